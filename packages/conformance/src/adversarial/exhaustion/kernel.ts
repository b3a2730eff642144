import type { Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import { attempt } from '../api.js';
import { MiB } from '../machine.js';
import { checkUnchanged, command, machineState } from '../state.js';
import { Attacker } from './attacker.js';
import { SMALL_HOST, exhaustionMachine, type Phase } from './context.js';
import { checkExhaustionErrno, checkFinite, mib, totalFrames } from './limits.js';

const HUGE = 2n * MiB;
/** Room left for the kernel once the VMM holds the rest of the host. */
const HEADROOM_HUGE_PAGES = 8;

/** Fills the host with 2 MiB huge-page mmaps (reserved at mmap), touched; returns them. */
function fillWithHugePages(m: Machine, max: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < max; i++) {
    const r = attempt('vmm.mmap(2 MiB, { hugePages: "2M" }) filling the host', () => m.vmm.mmap(HUGE, { hugePages: '2M' }));
    if (!r.ok) break;
    const t = attempt('touching a huge page filling the host', () => m.vmm.write(r.value, new Uint8Array([0x4b])));
    out.push(r.value);
    if (!t.ok) break;
  }
  return out;
}

/**
 * Kernel memory when the VMM holds all but 16 MiB of a small host (the kernel's and the VMM's
 * frames come from one pool and never overlap): ALLOC after ALLOC until ENOMEM/ENOSPC, the
 * victim's bytes and both fds' DMA checked all along; then a MAP_DMA that needs new table
 * pages; a refused call changes nothing; FREE makes room again.
 */
export function kernelMemory(p: Phase): void {
  const { m, witness } = exhaustionMachine(p, SMALL_HOST);
  const att = Attacker.create(m, p.w);
  const total = totalFrames(m, SMALL_HOST);
  const filled = fillWithHugePages(m, Math.ceil(total / 512) + 16);
  for (const va of filled.splice(filled.length - Math.min(HEADROOM_HUGE_PAGES, filled.length))) attempt('munmap of a huge page', () => m.vmm.munmap(va, HUGE));
  witness.check('filling the host with huge pages');
  const ids: number[] = [];
  let refused: string | undefined;
  const limit = Math.min(p.maxOps, 4 * 4096 + 512);
  for (let n = 0; n < limit; n++) {
    const frames = m.hostMemory.framesInUse;
    const count = att.fd.ioasidIds.length;
    const r = attempt(() => `ALLOC #${n + 1} on the attacker fd`, () => att.fd.alloc({ protocol: 'map' }));
    if (!r.ok) {
      checkExhaustionErrno(r.errno!, r.error!.message, `ALLOC #${n + 1} with the host nearly full`);
      if (m.hostMemory.framesInUse !== frames) throw new ConformanceFailure(`atomicity: refused ALLOC (${r.errno}) changed framesInUse ${frames} → ${m.hostMemory.framesInUse}`);
      if (att.fd.ioasidIds.length !== count) throw new ConformanceFailure(`atomicity: refused ALLOC (${r.errno}) changed the fd's IOASIDs: ${count} → ${att.fd.ioasidIds.length}`);
      refused = r.errno;
      break;
    }
    ids.push(r.value);
    p.tally.add('ALLOCs with the host nearly full');
    if ((n & 15) === 15) {
      checkFinite(m, SMALL_HOST, `after ${n + 1} ALLOCs`);
      witness.check(`${n + 1} ALLOCs on another fd`);
      att.check(`${n + 1} ALLOCs`);
    }
  }
  checkFinite(m, SMALL_HOST, `after ${ids.length} ALLOCs`);
  witness.check(`${ids.length} ALLOCs on another fd`);
  att.check(`${ids.length} ALLOCs`);
  if (refused === undefined) {
    p.tally.note(`kernel memory: ${ids.length} ALLOCs did not run out (${mib(m.hostMemory.framesInUse)} in use)`);
    return;
  }
  // Page-table growth with memory full: a map far from the attacker's others needs new tables.
  const info = att.fd.getInfo(att.ioasid);
  const far = info.permittedRanges[info.permittedRanges.length - 1];
  const iova = ((far.last + 1n - 2n * p.w.g) / p.w.g) * p.w.g;
  const va = attempt('vmm.mmap of one page', () => m.vmm.mmap(p.w.g));
  if (va.ok && iova >= far.start) {
    const r = command(m, `MAP_DMA at ${iova.toString(16)} with the host full`, () => att.fd.mapDma({ ioasid: att.ioasid, iova, vaddr: va.value, size: p.w.g }));
    if (!r.ok) checkExhaustionErrno(r.errno!, r.error!.message, 'MAP_DMA needing new table pages with the host full', ['ENOMEM']);
  }
  witness.check('MAP_DMA with the host full');
  att.check('MAP_DMA with the host full');
  // FREE makes room again.
  for (const id of ids.splice(ids.length - Math.min(8, ids.length))) {
    const f = attempt(`FREE ${id}`, () => att.fd.free(id));
    if (!f.ok) throw new ConformanceFailure(`exhaustion: FREE of an unused IOASID was refused: ${f.error?.message ?? ''}`);
  }
  const before = machineState(m);
  const again = attempt('ALLOC after FREE', () => att.fd.alloc({ protocol: 'map' }));
  if (!again.ok) {
    checkUnchanged(before, machineState(m), 'ALLOC after FREE', again.errno!);
    throw new ConformanceFailure(`exhaustion: after FREE of 8 IOASIDs, ALLOC still fails: ${again.error?.message ?? ''}`);
  }
  witness.check('FREE and ALLOC again');
  p.tally.note(`kernel memory: ${ids.length + 8} ALLOCs with ${HEADROOM_HUGE_PAGES * 2} MiB left, then ${refused}`);
}
