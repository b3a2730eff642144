import { z } from 'zod';
import { Scenario, OP_NAMES } from './schema.js';
import { pathText } from './positions.js';
import { suggestName, suggested } from './suggest-name.js';

/** A problem the schema found, with the path it is at (and the key, for an unknown one). */
export interface SchemaProblem {
  path: PropertyKey[];
  /** An unknown key inside the map at `path`: the position to report is the key's. */
  key?: string;
  detail: string;
}

type Issue = z.core.$ZodIssue;

/** The value at `path` in the parsed file (undefined where the file has nothing). */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** Optional, nullable and union wrappers peeled off, down to an object schema if one is inside. */
function peel(s: z.ZodType | undefined): z.ZodType | undefined {
  while (s) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodUnion) s = (s.options as z.ZodType[]).find((o) => o instanceof z.ZodObject) ?? (s.options[0] as z.ZodType);
    else return s;
  }
  return undefined;
}

/** The keys the schema allows in the map at `path`. */
export function keysAt(path: readonly PropertyKey[]): string[] {
  let s = peel(Scenario);
  for (const seg of path) {
    if (s instanceof z.ZodObject) s = peel((s.shape as Record<string, z.ZodType>)[String(seg)]);
    else if (s instanceof z.ZodArray) s = peel(s.element as z.ZodType);
    else if (s instanceof z.ZodRecord) s = peel(s.valueType as z.ZodType);
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

const isStep = (path: readonly PropertyKey[]) => path.length === 2 && path[0] === 'steps' && typeof path[1] === 'number';
const hasOp = (step: unknown) => !!step && typeof step === 'object' && OP_NAMES.some((k) => k in step);

/** Zod's wording, as a user reads it: integers are numbers (they are parsed as bigint), no "Invalid input:". */
function wording(message: string): string {
  return message
    .replace(/^Invalid (?:input|option): /, '')
    .replace(/received bigint/, 'received number')
    .replace(/^Too small: expected array to have >=(\d+) items?$/, (_m, n: string) => `expected at least ${n} item${n === '1' ? '' : 's'}`)
    .replace(/^Too small: expected string to have >=1 characters?$/, 'expected a non-empty string');
}

/** What a problem with the whole file or a whole step says, where zod's words would puzzle. */
function shapeHint(path: readonly PropertyKey[], value: unknown): string | undefined {
  if (path.length === 0 && (value === null || value === undefined)) return 'the file is empty: expected title: and steps:';
  if (path.length === 0 && (typeof value !== 'object' || Array.isArray(value))) return 'expected a map with title: and steps: at the top level';
  if (isStep(path) && typeof value === 'string') {
    const op = (OP_NAMES as readonly string[]).includes(value) ? value : undefined;
    return op ? `expected '${op}:' with its arguments (e.g. '- ${op}: {}'), not a bare word` : `expected a step such as '- alloc: {}'${suggestName(value, OP_NAMES)}`;
  }
  return undefined;
}

/**
 * Every schema issue as a problem with a readable path: unknown keys with a did-you-mean (a
 * key that is missing because it was misspelt is reported once, as the unknown key), an unknown
 * operation as such, missing values as missing.
 */
export function schemaProblems(issues: readonly Issue[], data: unknown): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  /** Missing keys a did-you-mean already names, and steps whose unknown key was taken for the operation. */
  const explained = new Set<string>();
  const id = (path: readonly PropertyKey[]) => JSON.stringify(path.map(String));
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const path = issue.path as PropertyKey[];
    const opless = isStep(path) && !hasOp(valueAt(data, path));
    const known = keysAt(path);
    // In a step: expect, as, title, vendors. A step without an operation may have one misspelt.
    const common = known.filter((k) => !(OP_NAMES as readonly string[]).includes(k));
    for (const key of issue.keys) {
      let detail: string;
      if (opless && !suggestName(key, common)) {
        const hint = suggestName(key, OP_NAMES);
        detail = `unknown operation '${key}'${hint || ` (expected one of ${OP_NAMES.join(', ')})`}`;
        explained.add(id(path));
      } else {
        const hint = suggestName(key, known);
        detail = `unknown key '${key}'${hint}`;
        const meant = suggested(hint);
        if (meant !== undefined && valueAt(data, [...path, meant]) === undefined) explained.add(id([...path, meant]));
      }
      // At the top level there is no path to name: say where the key is instead.
      out.push({ path, key, detail: path.length === 0 ? detail.replace(/^unknown key/, 'unknown top-level key') : `${pathText(path, data)}: ${detail}` });
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    const path = issue.path as PropertyKey[];
    if (explained.has(id(path))) continue;
    const missing = path.length > 0 && valueAt(data, path) === undefined && valueAt(data, path.slice(0, -1)) !== undefined;
    const value = valueAt(data, path);
    let what = shapeHint(path, value) ?? wording(issue.message);
    if (missing) what = `missing (${what.replace(/, received undefined$/, '')})`;
    // A misspelt choice (an errno, a protocol): the closest allowed one.
    if (issue.code === 'invalid_value' && typeof value === 'string') what += suggestName(value, issue.values.map(String));
    out.push({ path, detail: path.length === 0 ? what : `${pathText(path, data)}: ${what}` });
  }
  return out;
}
