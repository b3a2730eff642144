import type { DecodedEntry } from '@ioasid/core';

/** An entry's decoded fields as `NAME=value` (booleans as 0/1, numbers in hex where they are wide). */
export function fieldsText(d: DecodedEntry): string {
  return Object.entries(d.fields)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
}

export function value(v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') return v > 9 ? `0x${v.toString(16)}` : String(v);
  if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, '0')).join('');
  if (Array.isArray(v)) return `[${v.map(value).join(', ')}]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${k}: ${value(x)}`).join(', ')} }`;
  return String(v);
}

export function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !(v instanceof Uint8Array);

/** A context value as indented lines: objects holding objects open up, flat ones stay on one line. */
export function contextLines(key: string, v: unknown, indent: string, out: string[]): void {
  if (v === undefined) return;
  const nested = Array.isArray(v) ? v.some(isObj) : isObj(v) && Object.values(v).some(isObj);
  if (!nested) {
    out.push(`${indent}${key}: ${value(v)}`);
    return;
  }
  out.push(`${indent}${key}:`);
  if (Array.isArray(v)) v.forEach((x, i) => contextLines(`[${i}]`, x, `${indent}  `, out));
  else for (const [k, x] of Object.entries(v as Record<string, unknown>)) contextLines(k, x, `${indent}  `, out);
}
