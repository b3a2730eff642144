import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import { PAGE_SHIFT } from '../memory/host-memory.js';
import { PinAccounting } from '../rules/accounting.js';
import type { RegisterMemoryArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import { onlyKeys, pageAligned, U64_END } from './validate.js';

/** REGISTER_MEMORY / UNREGISTER_MEMORY: pre-registered VMM ranges, pinned and charged once. */

const FIELDS = ['vaddr', 'size'] as const;

export function registerMemory(ctx: FdContext, args: RegisterMemoryArgs): void {
  const a = ctx.args(args, 'REGISTER_MEMORY');
  onlyKeys(a, FIELDS, 'REGISTER_MEMORY');
  const vaddr = u64(a.vaddr, 'vaddr');
  const size = u64(a.size, 'size');
  pageAligned(vaddr, 'vaddr');
  if (size === 0n) fail('EINVAL', 'size must not be zero');
  if (vaddr + size > U64_END) fail('EOVERFLOW', `vaddr ${hex(vaddr)} + size ${hex(size)} wraps past 2^64`);
  pageAligned(size, 'size');
  const region = ctx.host.vmm.region(vaddr, size);
  const clash = ctx.accounting.overlapping(vaddr, size);
  if (clash) fail('EEXIST', `vaddr range ${hex(vaddr)}+${hex(size)} overlaps the registration ${ctx.accounting.describe(clash)}`);
  const pages = PinAccounting.pages(size);
  ctx.accounting.checkCharge(pages, 'REGISTER_MEMORY');
  ctx.host.injector.check('registration');
  // Pinning populates the range (ENOMEM, nothing changed, if host memory cannot hold it).
  region.populate(Number((vaddr - region.vaddr) >> BigInt(PAGE_SHIFT)), pages);
  ctx.accounting.registrations.push({ vaddr, size });
  ctx.accounting.lockedPages += pages;
}

export function unregisterMemory(ctx: FdContext, args: RegisterMemoryArgs): void {
  const a = ctx.args(args, 'UNREGISTER_MEMORY');
  onlyKeys(a, FIELDS, 'UNREGISTER_MEMORY');
  const vaddr = u64(a.vaddr, 'vaddr');
  const size = u64(a.size, 'size');
  const i = ctx.accounting.registrations.findIndex((r) => r.vaddr === vaddr && r.size === size);
  if (i < 0) fail('ENOENT', `no registration at vaddr ${hex(vaddr)} of size ${hex(size)}`);
  for (const o of ctx.ioasids.values()) {
    if (o.isSoftwareChild) continue;
    const m = o.maps.all().find((x) => x.chargedPages === 0 && x.vaddr < vaddr + size && vaddr < x.vaddr + x.size);
    if (m) fail('EBUSY', `registered range ${hex(vaddr)}+${hex(size)} is still mapped by IOASID ${o.id} at iova ${hex(m.iova)}`);
  }
  ctx.accounting.registrations.splice(i, 1);
  ctx.accounting.lockedPages -= PinAccounting.pages(size);
}

/** Whether any map or registration of this fd pins part of the VMM range. */
export function pins(ctx: FdContext, vaddr: bigint, size: bigint): boolean {
  if (ctx.accounting.overlapping(vaddr, size)) return true;
  for (const o of ctx.ioasids.values()) {
    if (o.isSoftwareChild) continue;
    if (o.maps.all().some((m) => m.vaddr < vaddr + size && vaddr < m.vaddr + m.size)) return true;
  }
  return false;
}
