/** Human forms of the uAPI's numbers. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

const UNITS: [bigint, string][] = [
  [1n << 60n, 'E'],
  [1n << 50n, 'P'],
  [1n << 40n, 'T'],
  [1n << 30n, 'G'],
  [1n << 20n, 'M'],
  [1n << 10n, 'K'],
];

/** 0x200000 → "2M"; sizes that are not a whole unit stay hex. */
export function size(v: bigint): string {
  for (const [unit, name] of UNITS) if (v >= unit && v % unit === 0n) return `${v / unit}${name}`;
  return v < 1024n ? `${v}` : hex(v);
}

export function range(r: { start: bigint; last: bigint }): string {
  return `${hex(r.start)}-${hex(r.last)}`;
}
