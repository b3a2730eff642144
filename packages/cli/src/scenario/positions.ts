import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';
import { OP_NAMES } from './schema.js';

export interface Position {
  line: number;
  col: number;
}

/**
 * Where the value at `path` sits in the YAML source; for a path that goes past what the file
 * has (a missing key), where the deepest existing part sits. With `key`, the position of that
 * key inside the map at `path` (unrecognized keys).
 */
export function positionOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[], key?: string): Position {
  let node: unknown = doc.contents;
  let best: Node | null = (doc.contents as Node | null) ?? null;
  for (const seg of path) {
    const next = child(node, seg);
    if (next === undefined) break;
    node = next.value;
    best = next.at ?? best;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair && isScalar(pair.key) && pair.key.range) best = pair.key;
  }
  const offset = best?.range?.[0] ?? 0;
  return lc.linePos(offset);
}

function child(node: unknown, seg: PropertyKey): { value: unknown; at: Node | null } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
    if (!pair) return undefined;
    const v = pair.value as Node | null;
    // A key with no value (`close:`) has no node of its own: point at the key.
    return { value: v, at: v && v.range ? v : (pair.key as Node) };
  }
  if (isSeq(node) && typeof seg === 'number') {
    const v = node.items[seg] as Node | undefined;
    return v === undefined ? undefined : { value: v, at: v };
  }
  return undefined;
}

/** A path inside a step's own list or map, as the scenario writes it: "map[0].gva". */
function plainPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out;
}

/**
 * A path for a message. Steps are numbered from 1 as `run` numbers them, with their operation:
 * `['steps', 3, 'map', 'size']` → "step 4 (map): size"; `['steps', 0]` → "step 1 (alloc)". Other
 * paths as the file writes them: "machine.devices[0].name". `data` is the parsed file, to name
 * the operation of a step whose path does not.
 */
export function pathText(path: readonly PropertyKey[], data?: unknown): string {
  if (path[0] !== 'steps' || typeof path[1] !== 'number') return plainPath(path) || '(top level)';
  const i = path[1];
  const named = typeof path[2] === 'string' && (OP_NAMES as readonly string[]).includes(path[2]) ? path[2] : undefined;
  const op = named ?? stepOp(data, i);
  const rest = plainPath(path.slice(named ? 3 : 2));
  const head = `step ${i + 1}${op ? ` (${op})` : ''}`;
  return rest ? `${head}: ${rest}` : head;
}

/** The operation a step of the parsed file names, if it names one. */
function stepOp(data: unknown, i: number): string | undefined {
  const steps = (data as { steps?: unknown } | null)?.steps;
  const step = Array.isArray(steps) ? (steps[i] as unknown) : undefined;
  if (!step || typeof step !== 'object') return undefined;
  return Object.keys(step).find((k) => (OP_NAMES as readonly string[]).includes(k));
}
