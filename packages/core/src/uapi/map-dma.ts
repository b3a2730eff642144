import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { IovaRange } from '../base/info.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../memory/host-memory.js';
import { PROT_READ, PROT_WRITE } from '../pgtable/format.js';
import { PinAccounting } from '../rules/accounting.js';
import type { DmaMapping } from '../rules/dma-map.js';
import { rangeHolding } from '../rules/ranges.js';
import type { MapDmaArgs, UnmapDmaArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import type { IoasidObject } from './ioasid.js';
import { optionalBool, U64_END } from './validate.js';

/** MAP_DMA / UNMAP_DMA on a 'map' IOASID (VFIO type1v2 rules), software-nested children included. */

const MAP_FIELDS = ['ioasid', 'iova', 'vaddr', 'size', 'read', 'write'] as const;
const UNMAP_FIELDS = ['ioasid', 'iova', 'size', 'all'] as const;

export function mapDma(ctx: FdContext, args: MapDmaArgs): void {
  const { a, o } = ctx.command(args, 'MAP_DMA', 'map', MAP_FIELDS);
  const iova = u64(a.iova, 'iova');
  const vaddrName = o.isSoftwareChild ? 'vaddr (parent IOVA)' : 'vaddr';
  const vaddr = u64(a.vaddr, vaddrName);
  const size = u64(a.size, 'size');
  const read = optionalBool(a.read, 'read');
  const write = optionalBool(a.write, 'write');
  const prot = (read === false ? 0 : PROT_READ) | (write === false ? 0 : PROT_WRITE);
  if (prot === 0) fail('EINVAL', 'a map must allow read or write');
  if (size === 0n) fail('EINVAL', 'size must not be zero');
  if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
  if (vaddr + size > U64_END) fail('EOVERFLOW', `${vaddrName} ${hex(vaddr)} + size ${hex(size)} wraps past 2^64`);
  const info = o.domain.info();
  const minPage = info.pageSizes[0] ?? BigInt(PAGE_SIZE);
  for (const [v, n] of [[iova, 'iova'], [vaddr, 'vaddr'], [size, 'size']] as const) {
    if (v % minPage !== 0n) fail('EINVAL', `${n} ${hex(v)} is not aligned to the smallest page size ${hex(minPage)}`);
  }
  if (!rangeHolding(info.permittedRanges, iova, size)) {
    fail('EINVAL', `iova range ${hex(iova)}+${hex(size)} is not inside one permitted range (${describeRanges(info.permittedRanges)})`);
  }
  o.maps.checkFree(iova, size);
  let chargedPages = 0;
  let region;
  if (!o.isSoftwareChild) {
    region = ctx.host.vmm.region(vaddr, size);
    const regs = ctx.accounting.registrations;
    if (regs.length > 0 && !ctx.accounting.registrationHolding(vaddr, size)) {
      fail('EINVAL', `vaddr range ${hex(vaddr)}+${hex(size)} is not inside a registered range (REGISTER_MEMORY is in use)`);
    }
    if (regs.length === 0) {
      chargedPages = PinAccounting.pages(size);
      ctx.accounting.checkCharge(chargedPages, 'MAP_DMA');
    }
  }
  const m: DmaMapping = { iova, size, vaddr, prot, chargedPages };
  ctx.host.injector.check('dma map');
  if (o.isSoftwareChild) {
    ctx.nesting.childMapped(o, m);
  } else {
    const first = Number((vaddr - region!.vaddr) >> BigInt(PAGE_SHIFT));
    // Pin: populate the pages first (ENOMEM if host memory cannot hold them); a later failure gives back what this call populated.
    const populated = region!.populate(first, PinAccounting.pages(size));
    try {
      o.domain.map(iova, size, region!.runs(first), prot);
    } catch (e) {
      region!.unpopulate(populated);
      throw e;
    }
    try {
      ctx.nesting.parentMapped(o, m);
    } catch (e) {
      o.domain.unmap(iova, size);
      region!.unpopulate(populated);
      throw e;
    }
    ctx.accounting.lockedPages += chargedPages;
  }
  o.maps.insert(m);
}

export function unmapDma(ctx: FdContext, args: UnmapDmaArgs): bigint {
  const { a, o } = ctx.command(args, 'UNMAP_DMA', 'map', UNMAP_FIELDS);
  let victims: DmaMapping[];
  if (optionalBool(a.all, 'all') === true) {
    if ('iova' in a || 'size' in a) fail('EINVAL', 'unmap-all takes no iova or size');
    victims = [...o.maps.all()];
  } else {
    const iova = u64(a.iova, 'iova');
    const size = u64(a.size, 'size');
    if (size === 0n) fail('EINVAL', 'size must not be zero (use all: true to unmap everything)');
    const minPage = o.domain.info().pageSizes[0] ?? BigInt(PAGE_SIZE);
    if (iova % minPage !== 0n) fail('EINVAL', `iova ${hex(iova)} is not aligned to ${hex(minPage)}`);
    if (size % minPage !== 0n) fail('EINVAL', `size ${hex(size)} is not aligned to ${hex(minPage)}`);
    if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
    victims = o.maps.wholeMapsIn(iova, size);
  }
  let bytes = 0n;
  for (const m of victims) {
    removeMap(ctx, o, m);
    bytes += m.size;
  }
  return bytes;
}

/** Takes one map away: its shadow pieces, its IOPTEs and its pin charge. */
export function removeMap(ctx: FdContext, o: IoasidObject, m: DmaMapping): void {
  if (o.isSoftwareChild) {
    ctx.nesting.childUnmapping(o, m);
  } else {
    ctx.nesting.parentUnmapping(o, m);
    o.domain.unmap(m.iova, m.size);
    ctx.accounting.lockedPages -= m.chargedPages;
  }
  o.maps.remove(m);
}

function describeRanges(r: readonly IovaRange[]): string {
  return r.length === 0 ? 'none' : r.map((x) => `${hex(x.start)}-${hex(x.last)}`).join(', ');
}
