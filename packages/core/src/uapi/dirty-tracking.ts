import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { GetDirtyBitmapArgs, SetDirtyTrackingArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import type { IoasidObject } from './ioasid.js';
import { optionalBool, U64_END } from './validate.js';
import { DirtyLog } from '../pgtable/dirty-log.js';

/**
 * Dirty tracking for live migration, with iommufd's semantics (IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP): the IOMMU logs DMA writes in the entries of a kernel-managed
 * space, in memory; GET_DIRTY_BITMAP reads (and by default clears) that state as one bit per
 * `pageSize`.
 */

/** The most bits one GET_DIRTY_BITMAP returns (a 1 GiB bitmap is 2^33 pages: refuse, as a VMM splits it). */
export const DIRTY_BITMAP_MAX_BITS = 2 ** 31;

function supported(ctx: FdContext, o: IoasidObject, command: string): void {
  if (o.isSoftwareChild) fail('EOPNOTSUPP', `${command}: IOASID ${o.id} is a software-nested child; track the parent it is shadowed onto`);
  if (typeof o.domain.readDirty !== 'function' || typeof o.domain.setDirtyTracking !== 'function') {
    fail('EOPNOTSUPP', `${command}: the ${ctx.host.vendor} IOMMU does not log dirty pages for IOASID ${o.id} (GET_INFO says dirtyTracking: false)`);
  }
}

export function setDirtyTracking(ctx: FdContext, args: SetDirtyTrackingArgs): void {
  const { a, o } = ctx.command(args, 'SET_DIRTY_TRACKING', 'map', ['ioasid', 'enable']);
  const enable = optionalBool(a.enable, 'enable');
  if (enable === undefined) fail('EINVAL', 'enable is required (true or false)');
  supported(ctx, o, 'SET_DIRTY_TRACKING');
  // A software child's shadow is walked instead of the parent's table: it logs for the parent.
  const spaces = [o, ...softwareChildren(o)];
  if (enable) {
    for (const s of spaces) {
      if (s !== o && (typeof s.domain.readDirty !== 'function' || typeof s.domain.setDirtyTracking !== 'function')) {
        fail('EOPNOTSUPP', `SET_DIRTY_TRACKING: the shadow of software child ${s.id} cannot log dirty pages on the ${ctx.host.vendor} IOMMU`);
      }
      for (const d of ctx.held.devices(s)) {
        if (ctx.host.driver.capabilities(d.desc).dirtyTracking !== true) {
          const where = s === o ? `IOASID ${o.id}` : `IOASID ${s.id} (a software child of ${o.id})`;
          fail('EINVAL', `SET_DIRTY_TRACKING: device ${d.name} attached to ${where} cannot track dirty pages (its GET_INFO says dirtyTracking: false)`);
        }
      }
    }
  }
  if (enable === o.dirtyTracking) return;
  // As iommufd's iopt_set_dirty_tracking: what was logged before is cleared first, so the log
  // starts empty (iopt_clear_dirty_data over every mapped area).
  if (enable) for (const s of spaces) for (const m of s.maps.all()) s.domain.readDirty!(new DirtyLog(Number(m.iova >> 12n), Number(m.size >> 12n)), true);
  for (const s of spaces) {
    s.domain.setDirtyTracking!(enable);
    s.dirtyTracking = enable;
  }
}

function softwareChildren(o: IoasidObject): IoasidObject[] {
  return [...o.children].filter((c) => c.isSoftwareChild);
}

export function getDirtyBitmap(ctx: FdContext, args: GetDirtyBitmapArgs): Uint8Array {
  const { a, o } = ctx.command(args, 'GET_DIRTY_BITMAP', 'map', ['ioasid', 'iova', 'size', 'pageSize', 'noClear']);
  const iova = u64(a.iova, 'iova');
  const size = u64(a.size, 'size');
  const pageSize = u64(a.pageSize, 'pageSize');
  const noClear = optionalBool(a.noClear, 'noClear') ?? false;
  supported(ctx, o, 'GET_DIRTY_BITMAP');
  // As Intel's and AMD's read_and_clear_dirty: no bitmap while the IOMMU is not logging.
  if (!o.dirtyTracking) fail('EINVAL', `GET_DIRTY_BITMAP: dirty tracking is off for IOASID ${o.id} (SET_DIRTY_TRACKING first)`);
  const minPage = o.domain.info().pageSizes[0] ?? 4096n;
  if (pageSize === 0n || (pageSize & (pageSize - 1n)) !== 0n) fail('EINVAL', `pageSize ${hex(pageSize)} is not a power of two`);
  if (pageSize < minPage) fail('EINVAL', `pageSize ${hex(pageSize)} is below the smallest page size ${hex(minPage)}`);
  if (size === 0n) fail('EINVAL', 'size must not be zero');
  if (iova % pageSize !== 0n) fail('EINVAL', `iova ${hex(iova)} is not aligned to pageSize ${hex(pageSize)}`);
  if (size % pageSize !== 0n) fail('EINVAL', `size ${hex(size)} is not a multiple of pageSize ${hex(pageSize)}`);
  if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
  const bits = size / pageSize;
  if (bits > BigInt(DIRTY_BITMAP_MAX_BITS)) fail('EINVAL', `size ${hex(size)} / pageSize ${hex(pageSize)} is ${bits} bits, more than one bitmap holds (${DIRTY_BITMAP_MAX_BITS})`);
  // iommufd's bitmap is __u64 words, bit i of the whole in little-endian order: byte i >> 3, bit i & 7.
  // A leaf larger than pageSize (a huge page) dirties every bit it covers inside the range.
  const bitmap = new Uint8Array(Number(((bits + 63n) / 64n) * 8n));
  const log = new DirtyLog(Number(iova >> 12n), Number(size >> 12n), bitmap, Number(pageSize >> 12n));
  o.domain.readDirty!(log, !noClear);
  for (const c of softwareChildren(o)) ctx.nesting.harvestShadow(c, log, !noClear);
  return bitmap;
}

/** The bit numbers set in a GET_DIRTY_BITMAP result, ascending (bit i = the page at iova + i·pageSize). */
export function dirtyBits(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let byte = 0; byte < bitmap.length; byte++) {
    const v = bitmap[byte];
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) out.push(byte * 8 + bit);
  }
  return out;
}
