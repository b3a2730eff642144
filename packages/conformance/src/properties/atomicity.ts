import fc from 'fast-check';
import type { Device, IoasidFd, Machine } from '@ioasid/core';
import type { CaseDef, Caps, KitEnv } from '../types.js';
import {
  ConformanceFailure,
  check,
  closeFd,
  expectOk,
  firstFormat,
  fmtValue,
  gpaSpace,
  guestData,
  guestTable,
  isDmaFault,
  isIoasidError,
  newMachine,
  newPasidTableMachine,
  openFd,
  pattern,
  boundPasid,
  pickPasid,
  recover,
  sameBytes,
  supportsUserPgtable,
  vmmBuffer,
} from '../kit.js';
import { assertProperty, drainFaults, probeWindow, type Window } from './common.js';

const SLOTS = 16;
/** Start slots of the 4-slot blocks a pre-state may map (2 slots each). */
const BLOCKS = [0, 4, 8, 12];
/** A command that still fails after this many injected failures is reported. */
const MAX_INJECTIONS = 400;

interface Probe {
  name: string;
  dev: Device;
  pasid?: number;
  iova: bigint;
}

interface Atomic {
  m: Machine;
  fd: IoasidFd;
  probes: Probe[];
}

/** Everything a failed command must leave exactly as it was. */
function snapshot(st: Atomic): Record<string, string> {
  const { m, fd } = st;
  const out: Record<string, string> = {
    framesInUse: String(m.hostMemory.framesInUse),
    lockedPages: String(fd.accounting.lockedPages),
    hostPasids: String(m.pasids.inUse),
  };
  const d = fd.describe();
  out.registrations = fmtValue(d.registrations);
  out.devices = fmtValue(d.devices);
  for (const o of d.ioasids) {
    out[`IOASID ${o.id}`] = fmtValue([o.protocol, o.nesting, o.parent ?? null, o.children]);
    out[`maps of ${o.id}`] = fmtValue(o.maps);
    out[`attachments of ${o.id}`] = fmtValue(o.attachments);
    out[`binding of ${o.id}`] = fmtValue(o.bound ?? null);
  }
  for (const p of st.probes) {
    let v: string;
    try {
      v = fmtValue([...p.dev.dmaRead(p.iova, 8, { pasid: p.pasid })]);
    } catch (e) {
      v = isDmaFault(e) ? 'DmaFault' : isIoasidError(e) ? e.errno : `threw ${String(e)}`;
      if (isDmaFault(e)) recover(p.dev);
    }
    out[`DMA ${p.name}`] = v;
  }
  drainFaults(m);
  return out;
}

/** Per command kind: how many injected failures the longest run went through (for reports). */
export const atomicStats = new Map<string, number>();

/**
 * Fails the n-th allocation inside `cmd` for n = 1, 2, … until the command succeeds; after every
 * failure the command must have raised ENOMEM and left the snapshot unchanged.
 */
export function atomically<T>(st: Atomic, name: string, cmd: () => T, verify: (result: T) => void): number {
  for (let n = 1; n <= MAX_INJECTIONS; n++) {
    const before = snapshot(st);
    st.m.injectAllocFailure(n);
    let result: T | undefined;
    let err: unknown;
    let threw = false;
    try {
      result = cmd();
    } catch (e) {
      err = e;
      threw = true;
    }
    const fired = !st.m.injector.armed;
    st.m.injectAllocFailure(0);
    if (!threw) {
      expectOk(() => verify(result as T), `${name} succeeded (after ${n - 1} injected failures) but its effect is wrong`);
      const kind = name.replace(/ .*/, '');
      atomicStats.set(kind, Math.max(atomicStats.get(kind) ?? 0, n - 1));
      return n;
    }
    if (!fired) throw new ConformanceFailure(`${name} failed without an injected failure: ${err instanceof Error ? err.message : String(err)}`);
    check(isIoasidError(err) && err.errno === 'ENOMEM', () => `${name} with allocation ${n} failing: expected ENOMEM, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    const after = snapshot(st);
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (before[k] !== after[k]) {
        throw new ConformanceFailure(`${name} with allocation ${n} failing (ENOMEM) changed ${k}: ${before[k] ?? '(absent)'} → ${after[k] ?? '(absent)'}`);
      }
    }
  }
  throw new ConformanceFailure(`${name} still fails after ${MAX_INJECTIONS} injected allocation failures`);
}

/** A 'map' IOASID with dev0 attached, two-slot maps at `pre` blocks, VMM page k behind slot k. */
function mapState(env: KitEnv, w: Window, pre: number[], extraDevs: string[] = []) {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0', ...extraDevs);
  const va = vmmBuffer(m, BigInt(SLOTS) * w.g, w.g);
  for (let s = 0; s < SLOTS; s++) m.vmm.write(va + BigInt(s) * w.g, pattern(3000 + s, 8));
  const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  expectOk(() => devs[0].attachIoasid(a), 'ATTACH dev0');
  const iova = (s: number) => w.base + BigInt(s) * w.g;
  for (const b of pre) expectOk(() => fd.mapDma({ ioasid: a, iova: iova(b), vaddr: va + BigInt(b) * w.g, size: 2n * w.g }), `pre-state MAP_DMA at slot ${b}`);
  const probes: Probe[] = [];
  for (let s = 0; s < SLOTS; s++) probes.push({ name: `dev0 slot ${s}`, dev: devs[0], iova: iova(s) });
  return { m, fd, devs, va, a, iova, st: { m, fd, probes } as Atomic };
}

type Variant = { name: string; available: (caps: Caps) => boolean; run: (env: KitEnv, caps: Caps, w: Window) => void };

function prop<T>(env: KitEnv, arb: fc.Arbitrary<T>, body: (p: T) => void): void {
  assertProperty(env, 'prop-atomicity', arb, body);
}

const preArb = fc.subarray(BLOCKS);

export const ATOMIC_COMMANDS: Variant[] = [
  {
    name: 'MAP_DMA',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, fc.record({ pre: preArb, block: fc.nat({ max: 3 }), n: fc.integer({ min: 1, max: 4 }), child: fc.boolean() }), (p) => {
        const free = BLOCKS.filter((b) => !p.pre.includes(b));
        if (free.length === 0) return;
        const b = free[p.block % free.length];
        const s = mapState(env, w, p.pre, ['dev1']);
        if (p.child) {
          // A software child mapping the whole window onto the parent: MAP_DMA in the parent grows its shadow.
          expectOk(() => s.devs[1].attachIoasid(s.a), 'ATTACH dev1 → parent');
          const c = expectOk(() => s.fd.createNesting({ parent: s.a, protocol: 'map' }), 'CREATE_NESTING(map)');
          expectOk(() => s.devs[1].attachIoasid(c), 'ATTACH dev1 → child');
          expectOk(() => s.fd.mapDma({ ioasid: c, iova: s.iova(0), vaddr: s.iova(0), size: BigInt(SLOTS) * w.g }), 'child MAP_DMA of the window');
          for (let k = 0; k < SLOTS; k++) s.st.probes.push({ name: `dev1 (child) slot ${k}`, dev: s.devs[1], iova: s.iova(k) });
        }
        atomically(s.st, `MAP_DMA ${p.n} page(s) at slot ${b}${p.child ? ' under a software child' : ''}`,
          () => s.fd.mapDma({ ioasid: s.a, iova: s.iova(b), vaddr: s.va + BigInt(b) * w.g, size: BigInt(p.n) * w.g }),
          () => {
            for (let k = b; k < b + p.n; k++) {
              sameBytes(s.devs[0].dmaRead(s.iova(k), 8), pattern(3000 + k, 8), `slot ${k} after MAP_DMA`);
              if (p.child) sameBytes(s.devs[1].dmaRead(s.iova(k), 8), pattern(3000 + k, 8), `slot ${k} through the child after MAP_DMA`);
            }
          });
        closeFd(s.fd);
      }),
  },
  {
    name: 'MAP_DMA (software child)',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, fc.record({ pre: preArb, s: fc.nat({ max: SLOTS - 1 }), t: fc.nat({ max: SLOTS - 1 }), n: fc.integer({ min: 1, max: 8 }) }), (p) => {
        const s = mapState(env, w, p.pre);
        const c = expectOk(() => s.fd.createNesting({ parent: s.a, protocol: 'map' }), 'CREATE_NESTING(map)');
        expectOk(() => s.devs[0].attachIoasid(c), 'ATTACH dev0 → child');
        const n = Math.min(p.n, SLOTS - p.s, SLOTS - p.t);
        atomically(s.st, `child MAP_DMA ${n} page(s) at slot ${p.s} → parent slot ${p.t}`,
          () => s.fd.mapDma({ ioasid: c, iova: s.iova(p.s), vaddr: s.iova(p.t), size: BigInt(n) * w.g }),
          () => {
            for (let k = 0; k < n; k++) {
              const parentSlot = p.t + k;
              const mapped = p.pre.some((b) => parentSlot >= b && parentSlot < b + 2);
              if (mapped) sameBytes(s.devs[0].dmaRead(s.iova(p.s + k), 8), pattern(3000 + parentSlot, 8), `child slot ${p.s + k}`);
            }
          });
        closeFd(s.fd);
      }),
  },
  {
    name: 'UNMAP_DMA',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, fc.record({ pre: preArb, from: fc.nat({ max: 3 }), to: fc.nat({ max: 3 }), child: fc.boolean() }), (p) => {
        const s = mapState(env, w, p.pre);
        if (p.child) {
          const c = expectOk(() => s.fd.createNesting({ parent: s.a, protocol: 'map' }), 'CREATE_NESTING(map)');
          expectOk(() => s.fd.mapDma({ ioasid: c, iova: s.iova(0), vaddr: s.iova(0), size: BigInt(SLOTS) * w.g }), 'child MAP_DMA');
        }
        const lo = BLOCKS[Math.min(p.from, p.to)];
        const hi = BLOCKS[Math.max(p.from, p.to)] + 4;
        atomically(s.st, `UNMAP_DMA slots ${lo}..${hi - 1}`, () => s.fd.unmapDma({ ioasid: s.a, iova: s.iova(lo), size: BigInt(hi - lo) * w.g }), (bytes) => {
          const want = BigInt(p.pre.filter((b) => b >= lo && b < hi).length * 2) * w.g;
          check(bytes === want, () => `UNMAP_DMA returned ${bytes}, expected ${want}`);
        });
        closeFd(s.fd);
      }),
  },
  {
    name: 'ALLOC',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, preArb, (pre) => {
        const s = mapState(env, w, pre);
        const ids = s.fd.ioasidIds;
        atomically(s.st, 'ALLOC', () => s.fd.alloc({ protocol: 'map' }), (id) => check(!ids.includes(id) && s.fd.ioasidIds.includes(id), 'ALLOC returns a new IOASID'));
        closeFd(s.fd);
      }),
  },
  {
    name: 'ATTACH',
    available: () => true,
    run: (env, caps, w) =>
      prop(env, fc.record({ pre: preArb, kind: fc.constantFrom('rid', 'pasid', 'mdev', 'child') }), (p) => {
        if (p.kind === 'pasid' && caps.pasidMapAttach !== true) return;
        if (p.kind === 'mdev' && caps.mdevAttach !== true) return;
        const s = mapState(env, w, p.pre, ['dev1', ...(p.kind === 'mdev' ? ['md0'] : [])]);
        const vp = pickPasid(caps.dev.pasidBits, 2);
        let target = s.a;
        let dev = s.devs[1];
        let pasid: number | undefined;
        if (p.kind === 'pasid') pasid = vp;
        if (p.kind === 'mdev') dev = s.devs[2];
        if (p.kind === 'child') {
          target = expectOk(() => s.fd.createNesting({ parent: s.a, protocol: 'map' }), 'CREATE_NESTING(map)');
          expectOk(() => s.fd.mapDma({ ioasid: target, iova: s.iova(0), vaddr: s.iova(0), size: BigInt(SLOTS) * w.g }), 'child MAP_DMA');
          dev = s.devs[0];
        }
        for (const b of BLOCKS) s.st.probes.push({ name: `${dev.name}${pasid !== undefined ? ` PASID ${pasid}` : ''} slot ${b}`, dev, pasid, iova: s.iova(b) });
        atomically(s.st, `ATTACH ${dev.name} (${p.kind})`, () => dev.attachIoasid(target, { userPasid: pasid }), () => {
          for (const b of p.pre) sameBytes(dev.dmaRead(s.iova(b), 8, { pasid }), pattern(3000 + b, 8), `${dev.name} reaches slot ${b} after ATTACH`);
        });
        closeFd(s.fd);
      }),
  },
  {
    name: 'CREATE_NESTING (software)',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, preArb, (pre) => {
        const s = mapState(env, w, pre);
        atomically(s.st, 'CREATE_NESTING(map)', () => s.fd.createNesting({ parent: s.a, protocol: 'map' }), (id) => check(s.fd.getInfo(id).nesting === 'software', 'a map child is software-nested'));
        closeFd(s.fd);
      }),
  },
  {
    name: 'REGISTER_MEMORY',
    available: () => true,
    run: (env, _caps, w) =>
      prop(env, preArb, (pre) => {
        const s = mapState(env, w, pre);
        const buf = vmmBuffer(s.m, 4n * w.g, w.g);
        atomically(s.st, 'REGISTER_MEMORY', () => s.fd.registerMemory({ vaddr: buf, size: 4n * w.g }), () => check(s.fd.accounting.registrations.length === 1, 'one registration'));
        closeFd(s.fd);
      }),
  },
  {
    name: 'CREATE_NESTING (hardware)',
    available: (caps) => supportsUserPgtable(caps.dev),
    run: (env) =>
      prop(env, fc.constant(0), () => {
        const m = newMachine(env);
        const { fd, devs } = openFd(m, 'dev0');
        const { parent } = gpaSpace(m, fd, devs);
        const st: Atomic = { m, fd, probes: [{ name: 'dev0 GPA 0', dev: devs[0], iova: 0n }] };
        atomically(st, 'CREATE_NESTING(user-pgtable)', () => fd.createNesting({ parent, protocol: 'user-pgtable' }), (id) => check(fd.getInfo(id).nesting === 'hardware', 'hardware child'));
        closeFd(fd);
      }),
  },
  {
    name: 'BIND_PGTABLE',
    available: (caps) => supportsUserPgtable(caps.dev),
    run: (env, caps) =>
      prop(env, fc.record({ pasid: fc.boolean(), rebind: fc.boolean() }), (p) => {
        const m = newMachine(env);
        const { fd, devs } = openFd(m, 'dev0');
        const dev = devs[0];
        const { parent, info } = gpaSpace(m, fd, devs);
        const format = firstFormat(info);
        const c = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
        const pasid = p.pasid ? boundPasid(caps, caps.dev, 3) : undefined;
        expectOk(() => dev.attachIoasid(c, { userPasid: pasid }), 'ATTACH dev0 → child');
        const gt1 = guestTable(m, format);
        const gt2 = guestTable(m, format);
        const a = guestData(m, gt1.page, 3100);
        const b = guestData(m, gt1.page, 3101);
        gt1.pt.map(gt1.page, a.gpa, gt1.page);
        gt2.pt.map(gt1.page, b.gpa, gt1.page);
        if (p.rebind) expectOk(() => fd.bindPgtable({ ioasid: c, addr: gt1.pt.root, format }), 'first BIND_PGTABLE');
        const st: Atomic = { m, fd, probes: [{ name: 'dev0 gVA page 1', dev, pasid, iova: gt1.page }, { name: 'dev0 GPA of a', dev, iova: a.gpa }] };
        atomically(st, `${p.rebind ? 're-' : ''}BIND_PGTABLE${pasid !== undefined ? ' (vPASID)' : ''}`, () => fd.bindPgtable({ ioasid: c, addr: gt2.pt.root, format }), () =>
          sameBytes(dev.dmaRead(gt1.page, 64, { pasid }), b.bytes, 'the bound table translates'));
        closeFd(fd);
      }),
  },
  {
    name: 'BIND_PASID_TABLE',
    available: (caps) => caps.dev.protocols.includes('user-pasid-table') && caps.dev.pasidTableFormats.length > 0 && !!caps.guest?.buildPasidTable,
    run: (env) =>
      prop(env, fc.constant(0), () => {
        const m = newPasidTableMachine(env);
        const { fd, devs } = openFd(m, 'dev0');
        const dev = devs[0];
        const { parent, info } = gpaSpace(m, fd, devs);
        const format = firstFormat(info);
        const ptf = info.pasidTableFormats[0];
        const c = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
        expectOk(() => dev.attachIoasid(c), 'ATTACH dev0 → PASID-table child');
        const gt = guestTable(m, format);
        const a = guestData(m, gt.page, 3200);
        gt.pt.map(gt.page, a.gpa, gt.page);
        const table = m.driver.guest!.buildPasidTable!(m.guest, ptf, [{ pasid: 1, root: gt.pt.root, pgtable: format }]);
        const st: Atomic = { m, fd, probes: [{ name: 'dev0 PASID 1', dev, pasid: 1, iova: gt.page }, { name: 'dev0 GPA', dev, iova: a.gpa }] };
        atomically(st, 'BIND_PASID_TABLE', () => fd.bindPasidTable({ ioasid: c, addr: table, format: ptf }), () =>
          sameBytes(dev.dmaRead(gt.page, 64, { pasid: 1 }), a.bytes, 'the bound PASID table translates'));
        closeFd(fd);
      }),
  },
];

/**
 * Atomicity: for each command, fail the n-th allocation inside it for n = 1, 2, …
 * until it succeeds; every failure is ENOMEM and leaves frames, pins, PASIDs, attachments, maps,
 * bindings and the translations devices see exactly as they were.
 */
export const atomicityCase: CaseDef = {
  id: 'prop-atomicity',
  group: 'property',
  title: 'property: atomicity — the n-th allocation fails inside each command, for every n, and nothing changes',
  run(env, caps) {
    const w = probeWindow(env, SLOTS);
    for (const c of ATOMIC_COMMANDS) if (c.available(caps)) c.run(env, caps, w);
  },
};
