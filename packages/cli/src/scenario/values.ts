import { HEX_BYTES, NUMBER, REF } from './schema.js';

/** A step cannot run on this vendor: a capability GET_INFO does not report (not a failure). */
export class Unsupported extends Error {
  override readonly name = 'Unsupported';
}

/** A check of the scenario did not hold (bytes, fault, GET_INFO field…): a failure. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

/** Results kept under `as:` names; values from GET_INFO are marked so a missing entry means "unsupported". */
export class Vars {
  private readonly values = new Map<string, unknown>();
  private readonly fromInfo = new Set<string>();

  set(name: string, value: unknown, fromInfo = false): void {
    this.values.set(name, value);
    if (fromInfo) this.fromInfo.add(name);
    else this.fromInfo.delete(name);
  }

  /** Replaces every $reference inside `v` (deeply) by its value. */
  resolve(v: unknown): unknown {
    if (typeof v === 'string' && v.startsWith('$')) return this.lookup(v);
    if (Array.isArray(v)) return v.map((x) => this.resolve(x));
    if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.resolve(x)]));
    }
    return v;
  }

  private lookup(ref: string): unknown {
    const m = REF.exec(ref);
    if (!m) throw new Error(`'${ref}' is not a reference`);
    const [, name, dotted, offset] = m;
    if (!this.values.has(name)) throw new Error(`'$${name}' has no value (the step that defines it did not run)`);
    let v: unknown = this.values.get(name);
    let walked = `$${name}`;
    for (const seg of dotted.split('.').slice(1)) {
      const next = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
      walked += `.${seg}`;
      if (next === undefined) {
        if (this.fromInfo.has(name)) throw new Unsupported(`GET_INFO has no ${walked.slice(name.length + 2)} (${ref})`);
        throw new Error(`${ref}: ${walked} does not exist`);
      }
      v = next;
    }
    if (offset !== undefined) return toBig(v, ref) + parseNumber(offset);
    return v;
  }
}

const UNITS: Record<string, bigint> = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/** "0x1000", "4096", "2M" → bigint (the schema has already checked the form). */
export function parseNumber(s: string): bigint {
  if (!NUMBER.test(s)) throw new Error(`'${s}' is not a number`);
  const t = s.replace(/_/g, '');
  const unit = UNITS[t.slice(-1)];
  if (unit) return BigInt(t.slice(0, -1)) * unit;
  return BigInt(t);
}

export function toBig(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string') return parseNumber(v);
  throw new Error(`${what} must be a number (got ${describe(v)})`);
}

export function toInt(v: unknown, what: string): number {
  const b = toBig(v, what);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`${what} is too large (${b})`);
  return Number(b);
}

export function optInt(v: unknown, what: string): number | undefined {
  return v === undefined ? undefined : toInt(v, what);
}

/** Bytes: hex string, { text }, { fill, length }, or an already resolved Uint8Array. */
export function toBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') {
    if (!HEX_BYTES.test(v)) throw new Error(`${what}: '${v}' is not hex bytes`);
    const hex = v.replace(/\s+/g, '');
    return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
  }
  if (v && typeof v === 'object') {
    const o = v as { text?: string; fill?: unknown; length?: unknown };
    if (typeof o.text === 'string') return new TextEncoder().encode(o.text);
    if (o.fill !== undefined) return new Uint8Array(toInt(o.length, `${what}.length`)).fill(toInt(o.fill, `${what}.fill`) & 0xff);
  }
  throw new Error(`${what} must be bytes (got ${describe(v)})`);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return Array.isArray(v) ? 'a list' : 'an object';
  return `${typeof v} ${String(v)}`;
}

/** A resolved format: as given, or `{ base, ...overrides }` merged (GET_INFO entry with parameters the user sets). */
export function toFormat(v: unknown, what: string): { kind: string; [param: string]: unknown } {
  if (v && typeof v === 'object' && 'base' in v) {
    const { base, ...overrides } = v as { base: unknown };
    return toFormat({ ...toFormat(base, `${what}.base`), ...overrides }, what);
  }
  if (v && typeof v === 'object' && typeof (v as { kind?: unknown }).kind === 'string') {
    const out: Record<string, unknown> = {};
    // YAML integers arrive as bigint; format parameters (levels, granule, s1cdmax…) are numbers.
    for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'bigint' && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
    return out as { kind: string };
  }
  throw new Error(`${what} must be a format with a kind (got ${describe(v)})`);
}
