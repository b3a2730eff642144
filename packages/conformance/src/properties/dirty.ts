import fc from 'fast-check';
import { dirtyBits } from '@ioasid/core';
import type { CaseDef, KitEnv } from '../types.js';
import { MiB, check, closeFd, expectErrno, expectOk, fmtValue, newMachine, openFd, spot } from '../kit.js';
import { assertProperty, drainFaults } from './common.js';
import { dirtyCase } from '../contracts/dirty.js';

const PAGE = 4096n;
const SMALL = 24;

/** One step of the property: a DMA write or read to a page, or a harvest of the bitmap. */
type DirtyStep =
  | { t: 'write'; page: number; huge: boolean }
  | { t: 'read'; page: number; huge: boolean }
  | { t: 'harvest'; noClear: boolean; pageSize: number }
  | { t: 'toggle'; on: boolean };

const step: fc.Arbitrary<DirtyStep> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('write' as const), page: fc.nat({ max: SMALL - 1 }), huge: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('read' as const), page: fc.nat({ max: SMALL - 1 }), huge: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('harvest' as const), noClear: fc.boolean(), pageSize: fc.constantFrom(1, 2, 8) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('toggle' as const), on: fc.boolean() }) },
);


/**
 * Random DMA writes and reads against a model of what a VMM must see: after each harvest, the
 * bitmap of the 4 KiB pages is exactly the set written since the last clearing harvest while
 * tracking was on, coarser bitmaps the blocks holding them, and a write into the 2 MiB leaf dirties
 * all of it; noClear keeps the state, a clearing harvest empties it.
 */
function runDirty(env: KitEnv, steps: DirtyStep[]): void {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0');
  const dev = devs[0];
  const ioasid = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  expectOk(() => dev.attachIoasid(ioasid), 'ATTACH');
  const info = fd.getInfo(ioasid);
  const huge = info.pageSizes.includes(2n * MiB);
  const base = spot(info.permittedRanges, 4n * MiB, 2n * MiB, 'dirty window', 16n * MiB);
  const small = base + 2n * MiB;
  expectOk(() => fd.mapDma({ ioasid, iova: small, vaddr: m.vmm.mmap(BigInt(SMALL) * PAGE), size: BigInt(SMALL) * PAGE }), 'MAP_DMA');
  if (huge) expectOk(() => fd.mapDma({ ioasid, iova: base, vaddr: m.vmm.mmap(2n * MiB, { hugePages: '2M' }), size: 2n * MiB }), 'MAP_DMA 2M');
  let on = false;
  const dirty = new Set<number>();
  let hugeDirty = false;
  for (const s of steps) {
    if (s.t === 'toggle') {
      expectOk(() => fd.setDirtyTracking({ ioasid, enable: s.on }), 'SET_DIRTY_TRACKING');
      // Turning tracking on starts from an empty log (iommufd clears it first).
      if (s.on && !on) {
        dirty.clear();
        hugeDirty = false;
      }
      on = s.on;
    } else if (s.t === 'write' || s.t === 'read') {
      const iova = s.huge && huge ? base + BigInt(s.page) * 16n * PAGE + 8n : small + BigInt(s.page) * PAGE + 8n;
      if (s.t === 'write') expectOk(() => dev.dmaWrite(iova, new Uint8Array([s.page])), 'DMA write');
      else expectOk(() => dev.dmaRead(iova, 4), 'DMA read');
      if (s.t === 'write' && on) {
        if (s.huge && huge) hugeDirty = true;
        else dirty.add(s.page);
      }
    } else if (!on) {
      expectErrno(() => fd.getDirtyBitmap({ ioasid, iova: small, size: PAGE, pageSize: PAGE }), 'EINVAL', 'GET_DIRTY_BITMAP while tracking is off');
    } else {
      const ps = BigInt(s.pageSize) * PAGE;
      const got = dirtyBits(expectOk(() => fd.getDirtyBitmap({ ioasid, iova: small, size: BigInt(SMALL) * PAGE, pageSize: ps, noClear: s.noClear }), 'GET_DIRTY_BITMAP'));
      const want = [...new Set([...dirty].map((p) => Math.floor(p / s.pageSize)))].sort((a, b) => a - b);
      check(JSON.stringify(got) === JSON.stringify(want), () => `GET_DIRTY_BITMAP at ${s.pageSize * 4} KiB per bit gave ${fmtValue(got)}, but the pages written while tracking were ${fmtValue([...dirty].sort((a, b) => a - b))} (steps ${fmtValue(steps)})`);
      if (huge) {
        const h = dirtyBits(expectOk(() => fd.getDirtyBitmap({ ioasid, iova: base, size: 2n * MiB, pageSize: ps, noClear: s.noClear }), 'GET_DIRTY_BITMAP 2M'));
        check(h.length === (hugeDirty ? 512 / s.pageSize : 0), () => `the 2 MiB leaf ${hugeDirty ? 'was written' : 'was not written'} while tracking, but its bitmap has ${h.length} bits set`);
      }
      if (!s.noClear) {
        dirty.clear();
        hugeDirty = false;
      }
    }
  }
  drainFaults(m);
  closeFd(fd);
}

export const dirtyPropertyCase: CaseDef = {
  id: 'prop-dirty',
  group: 'property',
  title: 'property: dirty tracking — the bitmap is exactly the pages written while tracking, huge leaves whole, kept by noClear, emptied by a clear or by enabling',
  needs: dirtyCase.needs,
  rejects: dirtyCase.rejects,
  run(env) {
    assertProperty(env, 'prop-dirty', fc.array(step, { minLength: 4, maxLength: 24 }), (steps) => runDirty(env, steps));
  },
};
