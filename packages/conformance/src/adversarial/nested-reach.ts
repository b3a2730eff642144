import fc from 'fast-check';
import type { Device, IoasidFd, IoasidInfo, Machine } from '@ioasid/core';
import type { CaseDef, Caps, KitEnv } from '../types.js';
import { boundPasid, check, closeFd, expectOk, fmtValue, guestPages, guestTable, newMachine, newPasidTableMachine, openFd, pattern, rejectsNesting, supportsUserPgtable, tryDma, type GuestTable } from '../kit.js';
import { checkNestedReach, checkNoKernelLeaf } from '../reach.js';
import { hasGuestPasidTable } from '../nested-route.js';
import { checkProperty } from './property.js';
import { scaled } from './budget.js';
import { Tally, reporting } from './tally.js';

/** Guest RAM is mapped into the parent in this many chunks, each mapped or not. */
const CHUNKS = 8;
/** gVA slots the hostile guest points anywhere. */
const SLOTS = 12;
/** Sequences per case at the kit's default run count. */
const SEQUENCES = 16;

/** How the device reaches the guest's table: at the RID, at a vPASID, or through the guest's own PASID table. */
type Route = 'rid' | 'pasid' | 'table';

/** A GPA the guest points a slot at: a page of a RAM chunk, or an edge of the GPA space (by index into the edge list). */
type Target = { ram: number; page: number } | { edge: number };

type Action = { t: 'unmap'; chunk: number } | { t: 'map'; chunk: number } | { t: 'retarget'; slot: number; to: Target | null };

const targetArb: fc.Arbitrary<Target> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ ram: fc.nat({ max: CHUNKS - 1 }), page: fc.nat({ max: 1 << 16 }) }) },
  { weight: 2, arbitrary: fc.record({ edge: fc.nat({ max: 1 << 10 }) }) },
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ chunk: fc.nat({ max: CHUNKS - 1 }) }).map((r): Action => ({ t: 'unmap', ...r })),
  fc.record({ chunk: fc.nat({ max: CHUNKS - 1 }) }).map((r): Action => ({ t: 'map', ...r })),
  { weight: 2, arbitrary: fc.record({ slot: fc.nat({ max: SLOTS - 1 }), to: fc.option(targetArb, { nil: null }) }).map((r): Action => ({ t: 'retarget', ...r })) },
);

/** Routes the vendor's GET_INFO and probes allow (a vPASID attach of a bound table only where it is taken). */
function routes(caps: Caps): Route[] {
  const out: Route[] = [];
  if (supportsUserPgtable(caps.dev)) out.push('rid');
  if (caps.pasidBoundAttach === true) out.push('pasid');
  if (hasGuestPasidTable(caps, caps.dev)) out.push('table');
  return out;
}

/**
 * GPAs where a kernel might hide something: each end of every permitted range and of every gap
 * between them, every power of two below the top of the GPA space and the page under it, and the
 * end of guest RAM — all in units of the guest table's page.
 */
export function nestedReachEdges(info: IoasidInfo, ram: bigint, page: bigint): bigint[] {
  const top = info.permittedRanges.reduce((t, r) => (r.last + 1n > t ? r.last + 1n : t), 0n);
  const out = new Set<bigint>([ram, ram - page]);
  for (const r of info.permittedRanges) {
    out.add(r.start);
    out.add(((r.last + 1n) / page) * page - page);
    out.add(((r.last + 1n) / page) * page);
  }
  for (let k = page; k < top; k *= 2n) {
    out.add(k);
    out.add(k - page);
  }
  return [...out].filter((g) => g >= 0n && g < top && g % page === 0n).sort((a, b) => (a < b ? -1 : 1));
}

interface Setup {
  m: Machine;
  fd: IoasidFd;
  dev: Device;
  parent: number;
  child: number;
  pasid: number | undefined;
  gt: GuestTable;
  chunk: bigint;
  mapped: boolean[];
  /** Chunks holding the guest's tables: always mapped (a walk that loses its own table faults everywhere). */
  pinnedFrom: number;
  edges: bigint[];
  /** The parent's permitted ranges: guest RAM in a hole (an MSI window) is never mapped. */
  ranges: IoasidInfo['permittedRanges'];
}

function build(env: KitEnv, caps: Caps, route: Route, mapped: boolean[]): Setup {
  const m = route === 'table' ? newPasidTableMachine(env) : newMachine(env);
  const { fd, devs } = openFd(m, 'dev0');
  const dev = devs[0];
  const parent = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC the GPA space');
  expectOk(() => dev.attachIoasid(parent), 'ATTACH dev0 → GPA space');
  const info = fd.getInfo(parent);
  const format = info.formats[0];
  check(format, () => `GET_INFO of the GPA space lists no bindable format: ${fmtValue(info.formats)}`);
  const gt = guestTable(m, format);
  const kind = route === 'table' ? 'user-pasid-table' : 'user-pgtable';
  const child = expectOk(() => fd.createNesting({ parent, protocol: kind }), `CREATE_NESTING(${kind})`);
  let pasid: number | undefined;
  if (route === 'table') {
    const ptf = info.pasidTableFormats[0];
    const table = expectOk(() => m.driver.guest!.buildPasidTable!(m.guest, ptf, [{ pasid: 1, root: gt.pt.root, pgtable: format }]), 'guest.buildPasidTable');
    expectOk(() => dev.attachIoasid(child), 'ATTACH dev0 → PASID-table child');
    expectOk(() => fd.bindPasidTable({ ioasid: child, addr: table, format: ptf }), 'BIND_PASID_TABLE');
    pasid = 1;
  } else {
    pasid = route === 'pasid' ? boundPasid(caps, caps.dev, 3) : undefined;
    expectOk(() => dev.attachIoasid(child, pasid === undefined ? {} : { userPasid: pasid }), `ATTACH dev0 → child${pasid === undefined ? '' : ` with vPASID ${pasid}`}`);
    expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), 'BIND_PGTABLE');
  }
  // gVA 0 keeps the slots' leaf table alive: a later map of a slot allocates no table page.
  gt.pt.map(0n, guestPages(m, gt.page, gt.page), gt.page);
  const chunk = m.guest.size / BigInt(CHUNKS);
  const pinnedFrom = Number(guestPages(m, gt.page, gt.page) / chunk);
  const s: Setup = { m, fd, dev, parent, child, pasid, gt, chunk, mapped: [...mapped], pinnedFrom, edges: nestedReachEdges(info, m.guest.size, gt.page), ranges: info.permittedRanges };
  for (let c = 0; c < CHUNKS; c++) if (s.mapped[c] || c >= pinnedFrom) mapChunk(s, c);
  return s;
}

/** The parts of chunk c inside the parent's permitted ranges, as [start, end) GPAs. */
function pieces(s: Setup, c: number): [bigint, bigint][] {
  const lo = BigInt(c) * s.chunk;
  const hi = lo + s.chunk;
  const out: [bigint, bigint][] = [];
  for (const r of s.ranges) {
    const a = r.start > lo ? r.start : lo;
    const b = r.last + 1n < hi ? r.last + 1n : hi;
    if (a < b) out.push([a, b]);
  }
  return out;
}

function mapChunk(s: Setup, c: number): void {
  for (const [a, b] of pieces(s, c)) {
    expectOk(() => s.fd.mapDma({ ioasid: s.parent, iova: a, vaddr: s.m.guest.vaddr + a, size: b - a, read: true, write: true }), `MAP_DMA guest RAM ${fmtValue(a)}..${fmtValue(b)} (chunk ${c})`);
  }
  s.mapped[c] = true;
}

function unmapChunk(s: Setup, c: number, at: string): void {
  for (const [a, b] of pieces(s, c)) expectOk(() => s.fd.unmapDma({ ioasid: s.parent, iova: a, size: b - a }), `${at}: UNMAP_DMA ${fmtValue(a)}..${fmtValue(b)}`);
  s.mapped[c] = false;
}

/** Whether the parent maps `gpa` now: guest RAM of a mapped chunk, inside a permitted range. */
function parentMaps(s: Setup, gpa: bigint): boolean {
  return gpa < s.m.guest.size && s.mapped[Number(gpa / s.chunk)] && s.ranges.some((r) => gpa >= r.start && gpa <= r.last);
}

/** The GPA of a target (page-aligned to the guest table's page). */
function gpaOf(s: Setup, t: Target): bigint {
  if ('edge' in t) return s.edges[t.edge % s.edges.length];
  const pages = s.chunk / s.gt.page;
  return BigInt(t.ram) * s.chunk + (BigInt(t.page) % pages) * s.gt.page;
}

/** Reads every slot: bytes of guest RAM where the parent maps the GPA the guest gave, a fault anywhere else. */
function sweep(s: Setup, slots: (bigint | null)[], at: string, tally: Tally): void {
  const { m, dev, gt } = s;
  slots.forEach((gpa, i) => {
    const gva = BigInt(i + 1) * gt.page;
    const opts = s.pasid === undefined ? {} : { pasid: s.pasid };
    const r = tryDma(dev, () => dev.dmaRead(gva, 8, opts), `${at}: dmaRead slot ${i}`);
    tally.add('DMAs checked');
    const ram = gpa !== null && gpa < m.guest.size;
    if (gpa !== null && parentMaps(s, gpa)) {
      check(r.ok, () => `${at}: slot ${i} (gVA ${fmtValue(gva)}) points at GPA ${fmtValue(gpa)}, which the parent maps, but the DMA faulted`);
      const want = m.guest.read(gpa, 8);
      check(r.value.every((b, k) => b === want[k]), () => `${at}: slot ${i} read ${fmtValue([...r.value])} instead of guest RAM at GPA ${fmtValue(gpa)} (${fmtValue([...want])})`, { bytes: want });
    } else {
      const where = gpa === null ? 'nothing (the guest unmapped it)' : `GPA ${fmtValue(gpa)}, ${ram ? 'guest RAM the parent does not map (now, or ever: a hole)' : 'outside guest RAM'}`;
      if (r.ok) check(false, () => `isolation: ${at}: slot ${i} (gVA ${fmtValue(gva)}) points at ${where}, yet the DMA read ${fmtValue([...r.value])} — memory nobody mapped for the device`, { fault: true });
      if (gpa !== null && !ram) tally.add('DMAs at edges of the GPA space refused');
    }
    checkNestedReach(m, dev, gva, opts, `${at}: slot ${i}`);
  });
}

function runSequence(env: KitEnv, caps: Caps, route: Route, mapped: boolean[], initial: (Target | null)[], actions: Action[], tally: Tally): void {
  const s = build(env, caps, route, mapped);
  const { m, gt } = s;
  const slots: (bigint | null)[] = Array(SLOTS).fill(null);
  const point = (i: number, t: Target | null, seed: number): void => {
    const gva = BigInt(i + 1) * gt.page;
    if (slots[i] !== null) gt.pt.unmap(gva, gt.page);
    slots[i] = null;
    if (t === null) return;
    const gpa = gpaOf(s, t);
    try {
      gt.pt.map(gva, gpa, gt.page);
    } catch {
      tally.add('targets the guest format cannot hold');
      return;
    }
    slots[i] = gpa;
    if (gpa < m.guest.size && Number(gpa / s.chunk) < s.pinnedFrom) m.guest.write(gpa, pattern(seed, 8));
  };
  initial.forEach((t, i) => point(i, t, 9000 + i));
  expectOk(() => s.fd.invalidateCache({ ioasid: s.child, all: true }), 'INVALIDATE_CACHE after the guest filled its table');
  sweep(s, slots, `${route} route, initial`, tally);
  actions.forEach((a, n) => {
    const at = `${route} route, step ${n} ${fmtValue(a)}`;
    if (a.t === 'unmap') {
      if (!s.mapped[a.chunk] || a.chunk >= s.pinnedFrom) return;
      unmapChunk(s, a.chunk, at);
    } else if (a.t === 'map') {
      if (s.mapped[a.chunk]) return;
      mapChunk(s, a.chunk);
    } else {
      point(a.slot, a.to, 9100 + n);
      expectOk(() => s.fd.invalidateCache({ ioasid: s.child, all: true }), `${at}: INVALIDATE_CACHE`);
    }
    tally.add('steps');
    sweep(s, slots, at, tally);
  });
  checkNoKernelLeaf(s.fd, s.parent, `${route} route, the parent after the sequence`);
  tally.add('parent tables dumped');
  closeFd(s.fd);
}

/**
 * A hostile guest over every nested route the vendor offers: it points gVAs at any GPA — guest
 * RAM the parent maps or not, the ends of every permitted range and gap, powers of two up to the
 * top of the GPA space — while the VMM maps and unmaps parent chunks. A DMA reads guest RAM the
 * parent maps at that GPA, or faults; and every structure the hardware fetches by GPA is guest
 * RAM (a kernel table in the device's stage 2 would be readable there).
 */
export const nestedReachCase: CaseDef = {
  id: 'adv-nested-reach',
  group: 'adversarial',
  title: 'adversarial: a hostile guest points its table anywhere in the GPA space over every nested route — only guest RAM the parent maps is reached, and no kernel structure sits in a stage 2',
  needs: (caps) => (routes(caps).length > 0 ? null : `no nested route: GET_INFO lists neither 'user-pgtable' nor 'user-pasid-table' (nesting: ${caps.dev.nesting})`),
  rejects(env, caps) {
    for (const p of ['user-pgtable', 'user-pasid-table'] as const) if (!caps.dev.protocols.includes(p)) rejectsNesting(env, p);
  },
  run(env, caps) {
    const tally = new Tally();
    return reporting(tally, () => {
      const arb = fc.record({
        route: fc.constantFrom(...routes(caps)),
        mapped: fc.array(fc.boolean(), { minLength: CHUNKS, maxLength: CHUNKS }),
        initial: fc.array(fc.option(targetArb, { nil: null }), { minLength: SLOTS, maxLength: SLOTS }),
        actions: fc.array(actionArb, { minLength: 2, maxLength: 12, size: 'max' }),
      });
      checkProperty(arb, (p) => runSequence(env, caps, p.route, p.mapped, p.initial, p.actions, tally), scaled(env, SEQUENCES), env.seed, { caseId: 'adv-nested-reach', vendor: env.vendor });
      tally.note(`routes: ${routes(caps).join(', ')}`);
    });
  },
};
