import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

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

/** `['steps', 3, 'attach', 'device']` → "steps[3].attach.device". */
export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out || '(top level)';
}
