/**
 * A small JSON Schema (draft-07) validator for the keywords the scenario schema uses — enough to
 * check the published schema against real scenario files without a new dependency. Returns the
 * problems as `path: what`; an empty list means valid.
 */
type Schema = Record<string, unknown> | boolean;

export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(root, value, '', root, errors);
  return errors;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function resolve(ref: string, root: Schema): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported (got ${ref})`);
  let s: unknown = root;
  for (const part of ref.slice(2).split('/')) s = (s as Record<string, unknown>)[part];
  if (s === undefined) throw new Error(`$ref ${ref} leads nowhere`);
  return s as Schema;
}

const sub = (s: Schema, v: unknown, root: Schema): boolean => validate2(s, v, root).length === 0;
const validate2 = (s: Schema, v: unknown, root: Schema): string[] => {
  const e: string[] = [];
  check(s, v, '', root, e);
  return e;
};

const KNOWN = new Set(['$schema', '$ref', 'title', 'description', 'definitions', 'type', 'const', 'enum', 'pattern', 'minLength', 'minimum', 'maximum', 'minItems', 'items', 'properties', 'required', 'additionalProperties', 'propertyNames', 'allOf', 'anyOf', 'oneOf']);

function check(schema: Schema, v: unknown, at: string, root: Schema, out: string[]): void {
  if (schema === true) return;
  if (schema === false) return void out.push(`${at}: not allowed`);
  const s = schema;
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`keyword ${k} at ${at} is not supported by this validator`);
  const t = typeOf(v);
  if (typeof s.$ref === 'string') check(resolve(s.$ref, root), v, at, root, out);
  if (s.type !== undefined) {
    const types = ([] as string[]).concat(s.type as string);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) return void out.push(`${at}: expected ${types.join('|')}, got ${t}`);
  }
  if ('const' in s && v !== s.const) out.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.includes(v)) out.push(`${at}: expected one of ${JSON.stringify(s.enum)}`);
  if (typeof v === 'string') {
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) out.push(`${at}: does not match ${s.pattern}`);
    if (typeof s.minLength === 'number' && v.length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) out.push(`${at}: below ${s.minimum}`);
    if (typeof s.maximum === 'number' && v > s.maximum) out.push(`${at}: above ${s.maximum}`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) out.push(`${at}: fewer than ${s.minItems} items`);
    if (s.items !== undefined) v.forEach((x, i) => check(s.items as Schema, x, `${at}[${i}]`, root, out));
  }
  if (t === 'object') {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) out.push(`${at}: missing ${r}`);
    for (const [k, x] of Object.entries(o)) {
      if (k in props) check(props[k], x, `${at}/${k}`, root, out);
      else if (s.additionalProperties === false) out.push(`${at}: unknown key ${k}`);
      else if (s.additionalProperties !== undefined) check(s.additionalProperties as Schema, x, `${at}/${k}`, root, out);
      if (s.propertyNames !== undefined) check(s.propertyNames as Schema, k, `${at}/${k} (name)`, root, out);
    }
  }
  if (Array.isArray(s.allOf)) for (const x of s.allOf as Schema[]) check(x, v, at, root, out);
  if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some((x) => sub(x, v, root))) out.push(`${at}: matches none of anyOf`);
  if (Array.isArray(s.oneOf)) {
    const n = (s.oneOf as Schema[]).filter((x) => sub(x, v, root)).length;
    if (n !== 1) out.push(`${at}: matches ${n} of oneOf, expected exactly 1`);
  }
}
