import { ConformanceFailure, alignUp, findSpot, pattern } from '../../kit.js';
import { attempt } from '../api.js';
import { MiB, framesFree } from '../machine.js';
import { checkUnchanged, command, machineState } from '../state.js';
import { hexn } from '../show.js';
import { SMALL_HOST, exhaustionMachine, type Phase } from './context.js';
import { checkExhaustionErrno, checkFinite, mib, totalFrames } from './limits.js';

const PAGE = 4096n;
/** Pages one VMM write populates while host memory is far from full. */
const BLOCK_PAGES = 256;

/**
 * Host memory through the VMM: an ordinary mmap as large as the host (lazy: nothing populated),
 * then one page touched after another until ENOMEM. The refused touch changes nothing, the
 * victim's bytes and DMA stay, and munmap makes room again.
 */
export function vmmTouches(p: Phase): void {
  const { m, witness } = exhaustionMachine(p, SMALL_HOST);
  const total = totalFrames(m, SMALL_HOST);
  const region = attempt('vmm.mmap of the whole host (lazy)', () => m.vmm.mmap(SMALL_HOST));
  if (!region.ok) throw new ConformanceFailure(`exhaustion: an ordinary (lazy) vmm.mmap of the host's size was refused (${region.error?.message ?? ''}): ordinary memory is populated on first touch, not at mmap`);
  const limit = Math.min(total + 2048, p.maxOps);
  // Far from the limit (when the core says how much is free) whole 1 MiB blocks are touched at
  // once; near it, one page at a time, so that the refused touch is a single page.
  const block = new Uint8Array(BLOCK_PAGES * 4096).fill(0x7c);
  let i = 0;
  let refused: string | undefined;
  while (i < limit) {
    const free = framesFree(m);
    const n = free !== undefined && free > 2 * BLOCK_PAGES && i + BLOCK_PAGES <= limit ? BLOCK_PAGES : 1;
    const before = m.hostMemory.framesInUse;
    const va = region.value + BigInt(i) * PAGE;
    const r = attempt(() => `vmm.write(${hexn(va)}) (page ${i} of the attacker's mapping)`, () => m.vmm.write(va, n === 1 ? pattern(i, 8) : block));
    if (!r.ok) {
      checkExhaustionErrno(r.errno!, r.error!.message, `populating VMM page ${i}`, ['ENOMEM']);
      if (m.hostMemory.framesInUse !== before) throw new ConformanceFailure(`atomicity: refused vmm.write populating page ${i} (${r.errno}) changed framesInUse ${before} → ${m.hostMemory.framesInUse}`);
      refused = r.errno;
      break;
    }
    p.tally.add('VMM pages populated', n);
    if (Math.floor((i + n) / 1024) !== Math.floor(i / 1024)) {
      checkFinite(m, SMALL_HOST, `after the VMM populated ${i + n} pages`);
      witness.check(`populating ${i + n} VMM pages`);
    }
    i += n;
  }
  checkFinite(m, SMALL_HOST, `after the VMM populated ${i} pages`);
  if (refused === undefined) {
    if (i >= total) throw new ConformanceFailure(`finite memory: the VMM populated ${i} pages (${mib(i)}) of a ${mib(total)} host and never got ENOMEM`);
    p.tally.note(`VMM touches: stopped at the budget after ${i} pages`);
    return;
  }
  witness.check(`exhausting host memory through VMM touches (${i} pages)`);
  // A huge-page mmap when memory is full: refused at mmap (reserved there) or on first touch, cleanly.
  const huge = attempt('vmm.mmap(2 MiB, { hugePages: "2M" }) with host memory full', () => m.vmm.mmap(2n * MiB, { hugePages: '2M' }));
  if (huge.ok) {
    const t = attempt('touching a 2 MiB huge page with host memory full', () => m.vmm.write(huge.value, new Uint8Array([1])));
    if (!t.ok) checkExhaustionErrno(t.errno!, t.error!.message, 'touching a huge page with host memory full', ['ENOMEM']);
  } else checkExhaustionErrno(huge.errno!, huge.error!.message, 'a huge-page mmap with host memory full', ['ENOMEM']);
  // Freeing makes room again.
  const un = attempt('munmap of the attacker mapping', () => m.vmm.munmap(region.value, SMALL_HOST));
  if (!un.ok) throw new ConformanceFailure(`exhaustion: munmap of the attacker's mapping was refused: ${un.error?.message ?? ''}`);
  const again = attempt('vmm.write after munmap freed memory', () => m.vmm.write(m.vmm.mmap(PAGE), new Uint8Array([7])));
  if (!again.ok) throw new ConformanceFailure(`exhaustion: after munmap gave ${i} pages back, populating one page still fails: ${again.error?.message ?? ''}`);
  witness.check('munmap of the attacker mapping');
  p.tally.note(`VMM touches: ${i} pages (${mib(i)}), then ${refused}`);
}

/**
 * Host memory through pins: MAP_DMA of a lazy mapping in 8 MiB pieces until ENOMEM; each
 * refused MAP_DMA changes nothing machine-wide; an ALLOC with memory full is ENOMEM or works;
 * unmapping and munmap make room again.
 */
export function pins(p: Phase): void {
  const { m, witness } = exhaustionMachine(p, SMALL_HOST);
  const total = totalFrames(m, SMALL_HOST);
  const fd = m.openIoasidFd();
  const att = m.device('att');
  const bound = attempt('BIND_IOASID_FD(att)', () => att.bindIoasidFd(fd, { label: 'attacker' }));
  if (!bound.ok) throw new ConformanceFailure(`exhaustion: BIND_IOASID_FD of the attacker failed: ${bound.error?.message ?? ''}`);
  const a = attempt('ALLOC', () => fd.alloc({ protocol: 'map' }));
  if (!a.ok) throw new ConformanceFailure(`exhaustion: ALLOC on the attacker fd failed: ${a.error?.message ?? ''}`);
  const at = attempt('ATTACH(att)', () => att.attachIoasid(a.value));
  if (!at.ok) throw new ConformanceFailure(`exhaustion: ATTACH of the attacker failed: ${at.error?.message ?? ''}`);
  const info = fd.getInfo(a.value);
  const chunk = alignUp(8n * MiB, p.w.g);
  const room = (info.permittedRanges.reduce((s, r) => (r.last - r.start + 1n > s ? r.last - r.start + 1n : s), 0n) / chunk) * chunk;
  const span = room < SMALL_HOST + chunk ? room : SMALL_HOST + chunk;
  const base = findSpot(info.permittedRanges, span, chunk > 2n * MiB ? chunk : 2n * MiB);
  if (base === undefined || span < chunk) {
    p.tally.note('pins: no IOVA room to pin the host');
    return;
  }
  const region = m.vmm.mmap(alignUp(span, p.w.g > PAGE ? 2n * MiB : PAGE), p.w.g > PAGE ? { hugePages: '2M' } : {});
  let k = 0;
  let refused: string | undefined;
  for (; BigInt(k + 1) * chunk <= span && k < p.maxOps; k++) {
    const off = BigInt(k) * chunk;
    const args = { ioasid: a.value, iova: base + off, vaddr: region + off, size: chunk };
    const r = command(m, () => `MAP_DMA of attacker memory ${k} (8 MiB at iova ${hexn(base + off)})`, () => fd.mapDma(args));
    if (!r.ok) {
      checkExhaustionErrno(r.errno!, r.error!.message, `MAP_DMA pinning ${mib(Number((off + chunk) / PAGE))}`, ['ENOMEM']);
      refused = r.errno;
      break;
    }
    p.tally.add('MAP_DMA pins of 8 MiB');
    checkFinite(m, SMALL_HOST, `after MAP_DMA pinned ${mib(Number((off + chunk) / PAGE))}`);
    witness.check(`pinning ${mib(Number((off + chunk) / PAGE))} with MAP_DMA`);
  }
  if (refused === undefined) {
    if (BigInt(k) * chunk > SMALL_HOST) throw new ConformanceFailure(`finite memory: MAP_DMA pinned ${mib(Number((BigInt(k) * chunk) / PAGE))} on a ${mib(total)} host and never got ENOMEM`);
    p.tally.note(`pins: ${k} × 8 MiB without running out (IOVA room or budget)`);
    return;
  }
  // Kernel memory with the host full: an ALLOC works or is ENOMEM, and a refusal changes nothing.
  const before = machineState(m);
  const alloc = attempt('ALLOC with host memory full', () => fd.alloc({ protocol: 'map' }));
  if (!alloc.ok) {
    checkExhaustionErrno(alloc.errno!, alloc.error!.message, 'ALLOC with host memory full');
    checkUnchanged(before, machineState(m), 'ALLOC with host memory full', alloc.errno!);
  }
  witness.check('ALLOC with host memory full');
  const un = attempt('UNMAP_DMA(all) of the attacker', () => fd.unmapDma({ ioasid: a.value, all: true }));
  if (!un.ok) throw new ConformanceFailure(`exhaustion: UNMAP_DMA(all) of the attacker was refused: ${un.error?.message ?? ''}`);
  const gone = attempt('munmap of the attacker memory', () => m.vmm.munmap(region, alignUp(span, p.w.g > PAGE ? 2n * MiB : PAGE)));
  if (!gone.ok) throw new ConformanceFailure(`exhaustion: munmap after UNMAP_DMA(all) was refused: ${gone.error?.message ?? ''}`);
  const fresh = m.vmm.mmap(chunk, p.w.g > PAGE ? { hugePages: '2M' } : {});
  const again = attempt('MAP_DMA after memory was freed', () => fd.mapDma({ ioasid: a.value, iova: base, vaddr: fresh, size: chunk }));
  if (!again.ok) throw new ConformanceFailure(`exhaustion: after unmapping and munmap of ${k} × 8 MiB, MAP_DMA of 8 MiB still fails: ${again.error?.message ?? ''}`);
  witness.check('unpinning and pinning again');
  p.tally.note(`pins: ${k} × 8 MiB MAP_DMA, then ${refused}`);
}
