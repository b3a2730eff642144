import type { Machine } from '@ioasid/core';
import { ConformanceFailure, granule, pattern, spot, vmmBuffer } from '../../kit.js';
import type { KitEnv } from '../../types.js';
import { attempt } from '../api.js';
import { MiB, framesFree, machineWith } from '../machine.js';
import { hexn, nearPow2 } from '../show.js';
import type { Tally } from '../tally.js';

/**
 * Host memory sizes whose last frames need ever more address bits: the smallest host, one just
 * past 4 GiB, one just past 1 TiB (frames past 2^40), and the largest (2^46).
 */
export const HOST_SIZES: bigint[] = [64n * MiB, 256n * MiB, (1n << 32n) + 64n * MiB, (1n << 40n) + 64n * MiB, 1n << 44n, 1n << 46n];

/** One mmap never asks for more than this (the VMM maps in pieces). */
const PIECE = 1n << 40n;
/** Pieces of 1 GiB pages in the bulk of the fill (one of them is given back and redone page by page). */
const BULK = 64n << 30n;
const HUGE_1G = 1n << 30n;
const HUGE_2M = 2n * MiB;
/** Odd frames the fill populates one by one at most (more means huge pages could not be had). */
const MAX_LEFTOVER = 65536;

interface Mapping {
  va: bigint;
  size: bigint;
  /** The highest host frame behind it. */
  top: number;
}

/** Bytes nobody holds, when the core says. */
function freeBytes(m: Machine): bigint | undefined {
  const f = framesFree(m);
  return f === undefined ? undefined : BigInt(f) * 4096n;
}

/** Maps huge pages of `unit` in pieces of at most `piece` while one fits; returns the mappings. */
function reserve(m: Machine, unit: bigint, piece: bigint, max = 1 << 20): Mapping[] {
  const huge = unit === HUGE_1G ? '1G' : '2M';
  const out: Mapping[] = [];
  for (let i = 0; i < max; i++) {
    const free = freeBytes(m) ?? 0n;
    if (free < unit) break;
    let size = free >= piece ? piece : free - (free % unit);
    let r = attempt(`vmm.mmap of ${huge} huge pages filling host memory`, () => m.vmm.mmap(size, { hugePages: huge }));
    // Free memory is not all in aligned huge pages: ask for fewer.
    while (!r.ok && size > unit) {
      size = ((size / 2n + unit - 1n) / unit) * unit;
      r = attempt(`vmm.mmap of ${huge} huge pages filling host memory`, () => m.vmm.mmap(size, { hugePages: huge }));
    }
    if (!r.ok) break;
    const region = m.vmm.region(r.value, size);
    let top = 0;
    for (let p = 0; p < region.pages; p += Number(unit / 4096n)) top = Math.max(top, region.frameOf(p) + Number(unit / 4096n) - 1);
    out.push({ va: r.value, size, top });
    if (freeBytes(m) === free) break;
  }
  return out;
}

const highest = (list: Mapping[]) => list.reduce<Mapping | undefined>((a, b) => (!a || b.top > a.top ? b : a), undefined);

/**
 * Fills the whole host but its topmost huge page, so that the next buffer (and the tables its
 * map needs) gets frames with the most address bits: 1 GiB huge pages (reserved at mmap) over
 * nearly everything; the piece holding the topmost of them given back and taken again one page
 * per mapping, and the 2 MiB rest one page per mapping; ordinary pages over the odd frames left;
 * then the single huge page with the highest address given back. A core that does not say how
 * much is free gets one large lazy mapping instead (that moves where a bump allocator's ordinary
 * frames come from).
 */
function fill(m: Machine, size: bigint): void {
  if (freeBytes(m) === undefined) {
    attempt('a large lazy vmm.mmap', () => m.vmm.mmap(size < PIECE ? size : PIECE));
    return;
  }
  const bulk = reserve(m, HUGE_1G, BULK);
  const top = highest(bulk);
  if (top) attempt('munmap of the piece holding the topmost 1 GiB page', () => m.vmm.munmap(top.va, top.size));
  const singles = [...reserve(m, HUGE_1G, HUGE_1G, 128), ...reserve(m, HUGE_2M, HUGE_2M, 4096)];
  // The frames left are odd ones between huge pages: ordinary pages take them all.
  const left = Number((freeBytes(m) ?? 0n) / 4096n);
  if (left > 0 && left <= MAX_LEFTOVER) {
    const va = attempt('vmm.mmap of the leftover frames', () => m.vmm.mmap(BigInt(left) * 4096n));
    if (va.ok) for (let p = 0; p < left; p++) if (!attempt('touching a leftover frame', () => m.vmm.write(va.value + BigInt(p) * 4096n, new Uint8Array([1]))).ok) break;
  }
  const last = highest(singles);
  if (last) attempt('munmap of the topmost huge page', () => m.vmm.munmap(last.va, last.size));
}

/** "64 MiB", "4 GiB + 64 MiB", "1 TiB + 64 MiB", "64 TiB". */
export function sizeText(bytes: bigint): string {
  const units: [bigint, string][] = [
    [1n << 40n, 'TiB'],
    [1n << 30n, 'GiB'],
    [1n << 20n, 'MiB'],
  ];
  const parts: string[] = [];
  let rest = bytes;
  for (const [u, name] of units) {
    if (rest >= u) {
      parts.push(`${rest / u} ${name}`);
      rest %= u;
    }
  }
  return parts.length ? parts.join(' + ') : `${bytes} bytes`;
}

/**
 * VMM buffers at the top of host memory: with most of the host filled, the last buffer's frames
 * need the most address bits. Its MAP_DMA is refused (the format cannot hold the address:
 * ERANGE) or its DMA moves exactly its bytes, where LOOKUP says; a frame number is never cut.
 */
export function hostTop(env: KitEnv, size: bigint, t: Tally): void {
  const what = `hostMemory ${sizeText(size)}`;
  const made = attempt(() => `createMachine({ ${what} })`, () => machineWith(env, [{ name: 'dev0' }], { hostMemory: size, guestMemory: 4n * MiB }));
  if (!made.ok) {
    t.note(`${what}: machine refused (${made.errno})`);
    return;
  }
  const m = made.value;
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  const need = <T>(step: string, fn: () => T): T => {
    const r = attempt(step, fn);
    if (!r.ok) throw new ConformanceFailure(`widths: with ${what}, ${step} failed: ${r.error?.message ?? ''}`);
    return r.value;
  };
  need('BIND_IOASID_FD(dev0)', () => dev.bindIoasidFd(fd, { label: 'dev0' }));
  const ioasid = need('ALLOC', () => fd.alloc({ protocol: 'map' }));
  need('ATTACH dev0', () => dev.attachIoasid(ioasid));
  const info = fd.getInfo(ioasid);
  const g = granule(info, 'GET_INFO');
  fill(m, size);
  const va = need('vmm.mmap of the last buffer', () => vmmBuffer(m, 4n * g, g));
  const tags = [0, 1, 2, 3].map((p) => pattern(0x70f + p, 16));
  for (let p = 0; p < 4; p++) need('populating the last buffer', () => m.vmm.write(va + BigInt(p) * g, tags[p]));
  const iova = spot(info.permittedRanges, 4n * g, g, 'widths: the last buffer', 1n << 24n);
  const map = attempt('MAP_DMA of the last buffer', () => fd.mapDma({ ioasid, iova, vaddr: va, size: 4n * g }));
  t.add('hosts at the top of memory');
  if (!map.ok) {
    t.note(`${what}: MAP_DMA of the top buffer refused (${map.errno})`);
    return;
  }
  let top = 0n;
  for (let p = 0; p < 4; p++) {
    const at = iova + BigInt(p) * g;
    const r = attempt(() => `dev0.dmaRead(${hexn(at)})`, () => dev.dmaRead(at, 16), true);
    if (!r.ok) {
      if (r.fault) attempt('reset dev0', () => dev.reset());
      throw new ConformanceFailure(`widths: with ${what}, the buffer at the top of host memory is mapped but a DMA at iova ${hexn(at)} fails (${r.fault ? `DmaFault ${r.fault.record.name}` : r.error.message})`);
    }
    const l = attempt(() => `LOOKUP(${hexn(at)})`, () => fd.lookup(ioasid, at));
    const hpa = l.ok && typeof l.value.output === 'bigint' ? l.value.output : undefined;
    if (hpa !== undefined && hpa > top) top = hpa;
    if (!r.value.every((b, i) => b === tags[p][i])) {
      throw new ConformanceFailure(
        `widths: with ${what}, a DMA read of the buffer at the top of host memory (page ${p}${hpa !== undefined ? `, host address ${hexn(hpa)} by LOOKUP` : ''}) returned other bytes: a frame number was cut into the entry (the DMA reached another host address)`,
      );
    }
    const marker = pattern(0x7e0 + p, 8);
    const w = attempt(() => `dev0.dmaWrite(${hexn(at + 64n)})`, () => dev.dmaWrite(at + 64n, marker), true);
    if (!w.ok) {
      if (w.fault) attempt('reset dev0', () => dev.reset());
      continue;
    }
    const landed = m.vmm.read(va + BigInt(p) * g + 64n, 8);
    if (!landed.every((b, i) => b === marker[i])) {
      throw new ConformanceFailure(`widths: with ${what}, a DMA write to the buffer at the top of host memory (page ${p}) went through but did not land in it: the entry holds a cut frame number (the write reached another host address, maybe a table)`);
    }
  }
  t.note(`${what}: top buffer at host ${top > 0n ? nearPow2(top) : '?'}`);
}
