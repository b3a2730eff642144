/** JSON for machine readers: bigint as a hex string, bytes as a hex string. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, replacer, 2);
}

function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (v instanceof Error) return { name: v.name, message: v.message };
  return v;
}

export function bytesToHex(b: Uint8Array, sep = ''): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(sep);
}
