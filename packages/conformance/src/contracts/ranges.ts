import { rangeHolding } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import { alignUp, check, closeFd, expectDmaFault, expectErrno, expectOk, fmtValue, granule, hex, newMachine, openFd, pattern, sameBytes, vmmBuffer } from '../kit.js';

const U64_END = 1n << 64n;
/** At most this many ranges (and holes) are probed. */
const MAX_RANGES = 8;

/**
 * Permitted IOVA ranges are enforced exactly: a map just outside each range (below its start,
 * above its last byte, straddling either edge, inside a hole) fails with EINVAL, and the first
 * and last pages inside each range map and carry DMA.
 */
export const rangesCase: CaseDef = {
  id: 'contract-permitted-ranges',
  group: 'contract',
  title: 'permitted IOVA ranges: maps just outside each range and in holes → EINVAL; both edges inside work',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => dev.attachIoasid(a), 'ATTACH');
    const info = fd.getInfo(a);
    const g = granule(info, 'GET_INFO');
    const ranges = info.permittedRanges;
    const devRanges = dev.getInfo().permittedRanges;
    check(ranges.every((r) => devRanges.some((d) => d.start <= r.start && r.last <= d.last)), () => `IOASID ranges ${fmtValue(ranges)} exceed the device's ${fmtValue(devRanges)}`);
    const va = vmmBuffer(m, 2n * g, g);
    const permitted = (iova: bigint, size: bigint) => iova >= 0n && iova + size <= U64_END && rangeHolding(ranges, iova, size) !== undefined;
    const refused = (iova: bigint, size: bigint, what: string) => {
      if (iova < 0n || iova + size > U64_END || permitted(iova, size)) return;
      expectErrno(() => fd.mapDma({ ioasid: a, iova, vaddr: va, size }), 'EINVAL', `${what}: MAP_DMA ${hex(iova)}+${hex(size)}`);
    };

    let seed = 100;
    for (const r of ranges.slice(0, MAX_RANGES)) {
      const what = `range ${hex(r.start)}-${hex(r.last)}`;
      const lo = alignUp(r.start, g);
      const hi = ((r.last + 1n) / g) * g; // end of the last whole page inside
      refused(lo - g, g, `${what}: the page just below the start`);
      refused(lo - g, 2n * g, `${what}: straddling the start`);
      refused(hi, g, `${what}: the page just above the last byte`);
      refused(hi - g, 2n * g, `${what}: straddling the end`);
      if (hi - lo < g) continue;
      for (const [iova, where] of [[lo, 'first'], [hi - g, 'last']] as const) {
        expectOk(() => fd.mapDma({ ioasid: a, iova, vaddr: va, size: g }), `${what}: MAP_DMA of the ${where} page inside (${hex(iova)})`);
        const w = pattern(seed++, 8);
        expectOk(() => dev.dmaWrite(iova + g - 8n, w), `${what}: DMA to the ${where} page inside`);
        sameBytes(m.vmm.read(va + g - 8n, 8), w, `${what}: DMA at the ${where} page`);
        expectOk(() => fd.unmapDma({ ioasid: a, iova, size: g }), `${what}: UNMAP_DMA`);
        if (hi - lo === g) break;
      }
    }

    // Holes between ranges (MSI windows, apertures): nothing maps there, nothing reaches there.
    for (let i = 0; i + 1 < ranges.length && i < MAX_RANGES; i++) {
      const start = ranges[i].last + 1n;
      const end = ranges[i + 1].start; // exclusive
      const what = `hole ${hex(start)}-${hex(end - 1n)}`;
      const mid = alignUp(start + (end - start) / 2n - g / 2n, g);
      if (mid >= start && mid + g <= end) {
        refused(mid, g, `${what}: a page inside the hole`);
        expectDmaFault(dev, () => dev.dmaRead(mid, 4), `${what}: DMA into the hole`);
      }
      refused(alignUp(ranges[i].last + 1n - g, g) - g, end - ranges[i].last + 2n * g, `${what}: a map spanning the hole`);
    }
    closeFd(fd);
  },
};
