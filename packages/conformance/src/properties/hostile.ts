import fc from 'fast-check';
import { PROT_READ, PROT_WRITE, type Device, type Machine, type PgtableFormat, type PtFormat } from '@ioasid/core';
import type { CaseDef, Caps } from '../types.js';
import {
  ConformanceFailure,
  MiB,
  PAGE,
  check,
  expectOk,
  firstFormat,
  gpaSpace,
  guestData,
  guestTable,
  newMachine,
  newPasidTableMachine,
  openFd,
  pattern,
  rejectsNesting,
  supportsUserPgtable,
  tryDma,
  type GuestTable,
} from '../kit.js';
import { assertProperty } from './common.js';

/** Guest RAM for the page-table mode (small: a successful write is searched for in all of it). */
const GUEST = 8n * MiB;
/** GPAs the parent leaves unmapped: a pointer there must fault in the parent stage. */
const HOLE = { start: 4n * MiB, end: 5n * MiB };
const SLOTS = 16;
/** A DMA that takes longer than this is reported (a walker that loops would never return). */
const SLOW_MS = 2000;

type Corruption =
  | { k: 'random'; table: number; index: number; lo: number; hi: number }
  | { k: 'loop'; table: number; index: number }
  | { k: 'outside'; table: number; index: number; where: 'beyond' | 'hole' | 'far' }
  | { k: 'reserved'; table: number; index: number; bits: number };

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ k: fc.constant('random' as const), table: fc.nat(), index: fc.nat({ max: 63 }), lo: fc.nat({ max: 0xffffffff }), hi: fc.nat({ max: 0xffffffff }) }),
  fc.record({ k: fc.constant('loop' as const), table: fc.nat(), index: fc.nat({ max: 63 }) }),
  fc.record({ k: fc.constant('outside' as const), table: fc.nat(), index: fc.nat({ max: 63 }), where: fc.constantFrom('beyond' as const, 'hole' as const, 'far' as const) }),
  fc.record({ k: fc.constant('reserved' as const), table: fc.nat(), index: fc.nat({ max: 63 }), bits: fc.integer({ min: 1, max: 0xfff }) }),
);

interface Target {
  /** Guest frame of the table and its level in `fmt` (level < 0: a PASID table, raw words only). */
  gfn: number;
  level: number;
  entries: number;
  /** The entry a walk of a probed address uses (the corruption hits it); else `index` picks one. */
  entry?: number;
}

function outsideFrame(m: Machine, where: 'beyond' | 'hole' | 'far'): number {
  if (where === 'beyond') return Number(m.guest.size / PAGE) + 17;
  if (where === 'hole') return Number(HOLE.start / PAGE) + 3;
  return 2 ** 28 + 5;
}

/** Applies one corruption to guest memory, using the format's own entry functions where it can. */
function corrupt(m: Machine, fmt: PtFormat, targets: Target[], rootGfn: number, c: Corruption): void {
  const t = targets[c.table % targets.length];
  const idx = t.entry ?? c.index % t.entries;
  const frame = t.gfn + (idx >>> 9);
  const w = m.guest.wordsForWrite(frame);
  const i = m.guest.wordBase(frame) + ((idx & 511) << 1);
  switch (c.k) {
    case 'random':
      w[i] = c.lo >>> 0;
      w[i + 1] = c.hi >>> 0;
      return;
    case 'reserved':
      w[i + 1] = (w[i + 1] | (c.bits << 20)) >>> 0;
      w[i] = (w[i] | (c.bits & 0xf00)) >>> 0;
      return;
    case 'loop':
      if (t.level > 0) fmt.setTable(w, i, t.level, rootGfn);
      else if (t.level === 0) fmt.setLeaf(w, i, 0, t.gfn, PROT_READ | PROT_WRITE);
      else {
        // A PASID-table entry pointing at the PASID table itself.
        w[i] = (((t.gfn & 0xfffff) << 12) | 1) >>> 0;
        w[i + 1] = Math.floor(t.gfn / 0x100000);
      }
      return;
    case 'outside': {
      const f = outsideFrame(m, c.where);
      if (t.level > 0) fmt.setTable(w, i, t.level, f);
      else if (t.level === 0) fmt.setLeaf(w, i, 0, f, PROT_READ | PROT_WRITE);
      else {
        w[i] = (((f & 0xfffff) << 12) | (w[i] & 0xfff) | 1) >>> 0;
        w[i + 1] = Math.floor(f / 0x100000);
      }
      return;
    }
  }
}

/** The entries walks of the probed addresses use, in every table level (guest frames). */
function entriesOf(gt: GuestTable, gvas: bigint[]): Target[] {
  const seen = new Map<string, Target>();
  for (const gva of gvas) {
    for (const s of gt.pt.table.walk(Number(gva / PAGE))) {
      const gfn = Number(s.tableAddr / PAGE);
      seen.set(`${gfn}:${s.index}`, { gfn, level: s.level, entries: 2 ** gt.fmt.levelBits(s.level), entry: s.index });
    }
  }
  return [...seen.values()];
}

/**
 * After a successful DMA write of `marker` at page offset `off`, it must be somewhere in guest RAM
 * the parent maps: first where the guest put its pages and tables (`likely`), else anywhere.
 */
function landedInGuest(m: Machine, off: bigint, marker: Uint8Array, likely: bigint[]): boolean {
  const at = (gpa: bigint) => m.guest.read(gpa + off, marker.length).every((b, i) => b === marker[i]);
  if (likely.some(at)) return true;
  const block = 2n * MiB;
  for (let base = 0n; base < m.guest.size; base += block) {
    if (base >= HOLE.start && base < HOLE.end) continue;
    const bytes = m.guest.read(base, Number(block));
    for (let p = 0; p < Number(block); p += 4096) {
      const o = p + Number(off);
      let hit = true;
      for (let i = 0; i < marker.length && hit; i++) hit = bytes[o + i] === marker[i];
      if (hit) return true;
    }
  }
  return false;
}

function probe(m: Machine, dev: Device, iova: bigint, write: boolean, pasid: number | undefined, n: number, what: string, likely: bigint[]): void {
  const t0 = performance.now();
  if (write) {
    const marker = pattern(7000 + n, 16);
    marker[4] = 0xde;
    marker[5] = 0xad;
    const r = tryDma(dev, () => dev.dmaWrite(iova, marker, { pasid }), what);
    if (r.ok) check(landedInGuest(m, iova % PAGE, marker, likely), () => `${what}: the write succeeded but did not land in guest RAM the parent maps (it reached other host memory)`);
  } else {
    tryDma(dev, () => dev.dmaRead(iova, 16, { pasid }), what);
  }
  const ms = performance.now() - t0;
  check(ms < SLOW_MS, () => `${what}: the DMA took ${ms.toFixed(0)} ms (a walker must be bounded)`);
}

interface Params {
  mode: 'pgtable' | 'pasid-table';
  corruptions: Corruption[];
  probes: { slot: number; write: boolean; pasid: number }[];
}

function runHostile(m: Machine, caps: Caps, p: Params): void {
  const { fd, devs } = openFd(m, 'dev0');
  const dev = devs[0];
  const { parent, info } = gpaSpace(m, fd, devs, HOLE);
  const format: PgtableFormat = firstFormat(info);
  const gt = guestTable(m, format);
  const pages = [0, 1, 2, 3].map((i) => guestData(m, gt.page, 6000 + i));
  const gva = (s: number) => BigInt(s + 1) * gt.page;
  for (let s = 0; s < SLOTS; s += 2) gt.pt.map(gva(s), pages[s % 4].gpa, gt.page);
  const rootGfn = Number(gt.pt.root / PAGE);
  const likely = pages.map((x) => x.gpa);
  let targets = entriesOf(gt, [...Array(SLOTS).keys()].map(gva));
  let child: number;
  const usePasidTable = p.mode === 'pasid-table' || !supportsUserPgtable(caps.dev);
  if (!usePasidTable) {
    child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
    expectOk(() => dev.attachIoasid(child), 'ATTACH dev0 → child');
    expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), 'BIND_PGTABLE');
  } else {
    const ptf = info.pasidTableFormats[0];
    check(ptf && m.driver.guest?.buildPasidTable, "GET_INFO lists 'user-pasid-table' without a format or a guest buildPasidTable helper");
    child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
    expectOk(() => dev.attachIoasid(child), 'ATTACH dev0 → PASID-table child');
    const table = m.driver.guest.buildPasidTable(m.guest, ptf, [1, 2, 3].map((pasid) => ({ pasid, root: gt.pt.root, pgtable: format })));
    expectOk(() => fd.bindPasidTable({ ioasid: child, addr: table, format: ptf }), 'BIND_PASID_TABLE');
    // Corrupt the PASID table itself as often as the page table.
    targets = [{ gfn: Number(table / PAGE), level: -1, entries: 512 }, ...targets];
    likely.push(table);
  }
  for (const t of targets) likely.push(BigInt(t.gfn) * PAGE);
  const pasidOf = (k: number) => (usePasidTable ? 1 + (k % 3) : undefined);
  // Warm the caches with good translations first.
  p.probes.forEach((q, n) => probe(m, dev, gva(q.slot), false, pasidOf(q.pasid), n, `warm-up DMA slot ${q.slot}`, likely));

  p.corruptions.forEach((c, i) => {
    try {
      corrupt(m, gt.fmt, targets, rootGfn, c);
    } catch {
      // A format's entry function may refuse an entry it cannot express: write the raw words instead.
      corrupt(m, gt.fmt, targets.map((t) => ({ ...t, level: -1 })), rootGfn, c);
    }
    expectOk(() => fd.invalidateCache({ ioasid: child, all: true }), `INVALIDATE_CACHE after corruption ${i}`);
    p.probes.forEach((q, n) =>
      probe(m, dev, gva(q.slot) + BigInt((n * 40) % 4000), q.write, pasidOf(q.pasid), n + i * 100, `DMA ${q.write ? 'write' : 'read'} at slot ${q.slot} after corruption ${i} ${JSON.stringify(c)}`, likely),
    );
  });
  for (const id of fd.ioasidIds) fd.readFaults(id);
  expectOk(() => fd.close(), 'close after hostile tables');
}

/**
 * Hostile guest tables: random entries, loops, pointers outside guest RAM or into
 * GPA the parent does not map, reserved bits — in the bound page table or the bound PASID
 * table. A DMA may only succeed (landing in guest RAM) or throw DmaFault; never hang.
 */
export const hostileCase: CaseDef = {
  id: 'prop-hostile',
  group: 'property',
  title: 'property: hostile guest tables (random bytes, loops, outside pointers, reserved bits) → only DmaFault',
  needs: (caps) =>
    supportsUserPgtable(caps.dev) || caps.dev.protocols.includes('user-pasid-table') ? null : "GET_INFO lists neither 'user-pgtable' nor 'user-pasid-table': no guest table to bind",
  rejects: (env) => rejectsNesting(env, 'user-pgtable'),
  run(env, caps) {
    const modes: ('pgtable' | 'pasid-table')[] = [];
    if (supportsUserPgtable(caps.dev)) modes.push('pgtable');
    if (caps.dev.protocols.includes('user-pasid-table')) modes.push('pasid-table');
    assertProperty(
      env,
      'prop-hostile',
      fc.record({
          mode: fc.constantFrom(...modes),
          corruptions: fc.array(corruption, { minLength: 1, maxLength: 4, size: 'max' }),
          probes: fc.array(fc.record({ slot: fc.nat({ max: SLOTS - 1 }), write: fc.boolean(), pasid: fc.nat({ max: 2 }) }), { minLength: 3, maxLength: 6, size: 'max' }),
        }),
        (p) => {
          const m = p.mode === 'pasid-table' ? newPasidTableMachine(env) : newMachine(env, { guestMemory: GUEST });
          try {
            runHostile(m, caps, p);
          } catch (e) {
            if (e instanceof ConformanceFailure) throw e;
            throw new ConformanceFailure(`hostile tables made a command fail: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
      },
    );
  },
};

