/**
 * Values as a failure message shows them: bigints in hex with an `n` (so 4096 and 4096n differ),
 * symbols, functions, NaN and cycles without throwing, long things clipped.
 */
export function show(v: unknown, depth = 2): string {
  switch (typeof v) {
    case 'bigint':
      return `${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}n`;
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'symbol':
      return v.toString();
    case 'function':
      return '[function]';
    case 'undefined':
      return 'undefined';
    case 'number':
    case 'boolean':
      return String(v);
    default:
      break;
  }
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  if (depth <= 0) return Array.isArray(v) ? '[…]' : '{…}';
  if (Array.isArray(v)) return `[${v.slice(0, 6).map((x) => show(x, depth - 1)).join(', ')}${v.length > 6 ? ', …' : ''}]`;
  const keys = Reflect.ownKeys(v as object).slice(0, 8);
  const body = keys.map((k) => `${typeof k === 'symbol' ? `[${k.toString()}]` : k}: ${show((v as Record<PropertyKey, unknown>)[k], depth - 1)}`);
  return `{ ${body.join(', ')} }`;
}

/** A call as a message names it: `MAP_DMA({ ioasid: 1, iova: 0x1000n, … })`. */
export function callText(name: string, args: readonly unknown[]): string {
  return `${name}(${args.map((a) => show(a)).join(', ')})`;
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function hexn(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

/** "2^52", "2^52-0x1000", "2^64-0x1000" for addresses near a power of two; else hex. */
export function nearPow2(v: bigint): string {
  for (let k = 0n; k <= 64n; k++) {
    const p = 1n << k;
    const d = v - p;
    if (d === 0n) return `2^${k}`;
    if (k >= 12n && d !== 0n && (d < 0n ? -d : d) <= 0x10000n) return `2^${k}${d < 0n ? '-' : '+'}${hexn(d < 0n ? -d : d)}`;
  }
  return hexn(v);
}
