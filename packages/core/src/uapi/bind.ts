import { didYouMean } from '../base/did-you-mean.js';
import { fail } from '../base/errors.js';
import { u64 } from '../base/args.js';
import type { PgtableFormat } from '../base/info.js';
import type { BindArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import { ioasidInfo } from './get-info.js';
import type { IoasidObject } from './ioasid.js';
import { pageAligned, plainData } from './validate.js';

/** BIND_PGTABLE / BIND_PASID_TABLE: the binding protocol (there is no UNBIND; FREE unbinds). */

const FIELDS = ['ioasid', 'addr', 'format'] as const;

export function bindPgtable(ctx: FdContext, args: BindArgs): void {
  const { a, o } = ctx.command(args, 'BIND_PGTABLE', 'user-pgtable', FIELDS);
  const addr = u64(a.addr, 'addr');
  pageAligned(addr, 'addr');
  const format = bindFormat(ctx, o, a.format, 'formats');
  if (!o.domain.bindPgtable) fail('EOPNOTSUPP', `the ${ctx.host.vendor} driver cannot bind user page tables`);
  o.domain.bindPgtable(addr, format);
  o.bound = { addr, format };
}

export function bindPasidTable(ctx: FdContext, args: BindArgs): void {
  const { a, o } = ctx.command(args, 'BIND_PASID_TABLE', 'user-pasid-table', FIELDS);
  const addr = u64(a.addr, 'addr');
  const format = bindFormat(ctx, o, a.format, 'pasidTableFormats');
  if (!o.domain.bindPasidTable) fail('EOPNOTSUPP', `the ${ctx.host.vendor} driver cannot bind PASID tables`);
  o.domain.bindPasidTable(addr, format);
  o.bound = { addr, format };
}

/**
 * A bindable format as the user passed it, checked against GET_INFO: plain data with a `kind`
 * that GET_INFO lists for this IOASID, and exactly the fields of a listed format of that kind
 * (a missing or extra field → EINVAL naming it). The vendor then checks the values. Before
 * any device is attached the IOASID's GET_INFO lists nothing, so the formats the machine's
 * devices offer stand in. Returns a private deep copy.
 */
function bindFormat(ctx: FdContext, o: IoasidObject, value: unknown, list: 'formats' | 'pasidTableFormats'): PgtableFormat {
  const f = plainData(value, 'format');
  if (typeof f !== 'object' || f === null || Array.isArray(f) || typeof (f as PgtableFormat).kind !== 'string') {
    fail('EINVAL', 'format must be an object with a kind, one of those GET_INFO lists');
  }
  const format = f as PgtableFormat;
  const listed = listedFormats(ctx, o, list);
  const sameKind = listed.filter((g) => g.kind === format.kind);
  if (sameKind.length === 0) {
    const kinds = [...new Set(listed.map((g) => g.kind))];
    fail('EINVAL', `format.kind '${format.kind}' is not among the ${list} GET_INFO lists for IOASID ${o.id} (${kinds.length ? kinds.join(', ') : 'none'})`);
  }
  const keys = Object.keys(format);
  if (!sameKind.some((g) => sameKeys(keys, Object.keys(g)))) {
    const want = Object.keys(sameKind[0]);
    const extra = keys.find((k) => !want.includes(k));
    if (extra !== undefined) fail('EINVAL', `format.${extra} is not a field of a '${format.kind}' format (its fields: ${want.join(', ')})${didYouMean(extra, want)}`);
    const missing = want.find((k) => !keys.includes(k));
    fail('EINVAL', `format.${missing} is missing: a '${format.kind}' format has the fields ${want.join(', ')}`);
  }
  return format;
}

function listedFormats(ctx: FdContext, o: IoasidObject, list: 'formats' | 'pasidTableFormats'): PgtableFormat[] {
  if (ctx.held.devices(o).length > 0) return ioasidInfo(ctx, o)[list];
  const out: PgtableFormat[] = [];
  for (const d of ctx.host.deviceList) {
    try {
      out.push(...ctx.host.driver.capabilities(d.desc)[list]);
    } catch {
      // a device the vendor cannot describe offers nothing
    }
  }
  return out;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k) => b.includes(k));
}
