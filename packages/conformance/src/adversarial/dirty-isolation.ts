import fc from 'fast-check';
import { dirtyBits, type Device, type IoasidFd } from '@ioasid/core';
import type { CaseDef, KitEnv } from '../types.js';
import { check, closeFd, expectOk, fmtValue, newMachine, openFd, tryDma } from '../kit.js';
import { probeWindow, type Window } from '../properties/common.js';
import { checkProperty } from './property.js';
import { scaled } from './budget.js';
import { Tally, reporting } from './tally.js';

/** Slots of the IOVA window every space maps (one granule each), all onto the same VMM pages. */
const SLOTS = 8;
/** Sequences per case at the kit's default run count. */
const SEQUENCES = 30;

/**
 * The topology: fd A holds dev0 in IOASID a0 and dev1 either in a1 (its own IOASID, tracked or
 * not) or in a software child of a0 (its writes are a0's, at the parent slot its map points to);
 * fd B holds pri0 in b0, tracked or not. Every space maps the same VMM pages at the same IOVAs:
 * only the log of the space a write went through may show it.
 */
interface Shape {
  a1Tracked: boolean;
  dev1InChild: boolean;
  b0Tracked: boolean;
  /** Child slot s → parent slot childMap[s]. */
  childMap: number[];
}

type Action = { t: 'write'; dev: number; slot: number } | { t: 'harvest'; space: number; noClear: boolean };

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  a1Tracked: fc.boolean(),
  dev1InChild: fc.boolean(),
  b0Tracked: fc.boolean(),
  childMap: fc.array(fc.nat({ max: SLOTS - 1 }), { minLength: SLOTS, maxLength: SLOTS }),
});

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ dev: fc.nat({ max: 2 }), slot: fc.nat({ max: SLOTS - 1 }) }).map((r): Action => ({ t: 'write', ...r })) },
  { weight: 1, arbitrary: fc.record({ space: fc.nat({ max: 2 }), noClear: fc.boolean() }).map((r): Action => ({ t: 'harvest', ...r })) },
);

interface Tracked {
  name: string;
  fd: IoasidFd;
  ioasid: number;
  /** The model: parent slots written since the last clearing harvest. */
  dirty: Set<number>;
}

function runSequence(env: KitEnv, w: Window, shape: Shape, actions: Action[], tally: Tally): void {
  const m = newMachine(env);
  const A = openFd(m, 'dev0', 'dev1');
  const B = openFd(m, 'pri0');
  const size = BigInt(SLOTS) * w.g;
  const va = expectOk(() => m.vmm.mmap(size), 'mmap the shared pages');
  const space = (fd: IoasidFd, dev: Device, what: string): number => {
    const id = expectOk(() => fd.alloc({ protocol: 'map' }), `ALLOC ${what}`);
    expectOk(() => dev.attachIoasid(id), `ATTACH ${dev.name} → ${what}`);
    expectOk(() => fd.mapDma({ ioasid: id, iova: w.base, vaddr: va, size }), `MAP_DMA ${what}`);
    return id;
  };
  const a0 = space(A.fd, A.devs[0], 'a0');
  const b0 = space(B.fd, B.devs[0], 'b0');
  let a1: number | undefined;
  if (shape.dev1InChild) {
    expectOk(() => A.devs[1].attachIoasid(a0), 'ATTACH dev1 → a0 (before its child)');
    const c = expectOk(() => A.fd.createNesting({ parent: a0, protocol: 'map' }), 'CREATE_NESTING(map) under a0');
    for (let s = 0; s < SLOTS; s++) {
      const at = w.base + BigInt(s) * w.g;
      expectOk(() => A.fd.mapDma({ ioasid: c, iova: at, vaddr: w.base + BigInt(shape.childMap[s]) * w.g, size: w.g }), `MAP_DMA child slot ${s} → a0 slot ${shape.childMap[s]}`);
    }
    expectOk(() => A.devs[1].attachIoasid(c), 'ATTACH dev1 → the child');
  } else {
    a1 = space(A.fd, A.devs[1], 'a1');
  }
  const logs: (Tracked | undefined)[] = [
    { name: 'a0', fd: A.fd, ioasid: a0, dirty: new Set() },
    a1 !== undefined && shape.a1Tracked ? { name: 'a1', fd: A.fd, ioasid: a1, dirty: new Set() } : undefined,
    shape.b0Tracked ? { name: 'b0 (fd B)', fd: B.fd, ioasid: b0, dirty: new Set() } : undefined,
  ];
  for (const t of logs) if (t) expectOk(() => t.fd.setDirtyTracking({ ioasid: t.ioasid, enable: true }), `SET_DIRTY_TRACKING ${t.name}`);
  const devs = [A.devs[0], A.devs[1], B.devs[0]];
  /** Where a write of device d at slot s is logged: the tracked space and the slot there. */
  const logOf = (d: number, s: number): [Tracked | undefined, number] => {
    if (d === 0) return [logs[0], s];
    if (d === 1) return shape.dev1InChild ? [logs[0], shape.childMap[s]] : [logs[1], s];
    return [logs[2], s];
  };
  actions.forEach((a, i) => {
    const at = `step ${i} ${fmtValue(a)}`;
    if (a.t === 'write') {
      const dev = devs[a.dev];
      const r = tryDma(dev, () => dev.dmaWrite(w.base + BigInt(a.slot) * w.g + 16n, new Uint8Array([i & 0xff])), `${at}: ${dev.name} write`);
      check(r.ok, () => `${at}: ${dev.name}'s space maps slot ${a.slot}, but the write faulted`);
      tally.add('DMA writes');
      const [t, slot] = logOf(a.dev, a.slot);
      t?.dirty.add(slot);
      return;
    }
    const t = logs[a.space];
    if (!t) return;
    const got = dirtyBits(expectOk(() => t.fd.getDirtyBitmap({ ioasid: t.ioasid, iova: w.base, size, pageSize: w.g, noClear: a.noClear }), `${at}: GET_DIRTY_BITMAP ${t.name}`));
    const want = [...t.dirty].sort((x, y) => x - y);
    tally.add('harvests');
    check(
      JSON.stringify(got) === JSON.stringify(want),
      () => `isolation: ${at}: the log of ${t.name} shows slots ${fmtValue(got)}, but only ${fmtValue(want)} were written through it (every space maps the same pages; another space's or fd's write must never appear, a write through a software child appears at its parent's slot)`,
      { dirtyPages: want },
    );
    if (!a.noClear) t.dirty.clear();
  });
  closeFd(A.fd);
  closeFd(B.fd);
}

/**
 * Dirty logs under a hostile topology: several fds and IOASIDs map the same VMM pages at the same
 * IOVAs, a software child points its slots anywhere in its parent, and devices write at random;
 * each tracked IOASID's GET_DIRTY_BITMAP shows exactly the writes that went through it.
 */
export const dirtyIsolationCase: CaseDef = {
  id: 'adv-dirty-isolation',
  group: 'adversarial',
  title: 'adversarial: dirty logs across fds, IOASIDs and software children mapping the same pages — each log shows exactly the writes through its own space',
  needs: (caps) => (caps.dev.dirtyTracking === true ? null : 'GET_INFO says dirtyTracking: false'),
  rejects(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const id = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => devs[0].attachIoasid(id), 'ATTACH');
    check(fd.getInfo(id).dirtyTracking === false, 'GET_INFO of the IOASID must say dirtyTracking: false too');
    closeFd(fd);
  },
  run(env) {
    const tally = new Tally();
    return reporting(tally, () => {
      const w = probeWindow(env, SLOTS);
      const arb = fc.record({ shape: shapeArb, actions: fc.array(actionArb, { minLength: 4, maxLength: 30, size: 'max' }) });
      checkProperty(arb, (p) => runSequence(env, w, p.shape, p.actions, tally), scaled(env, SEQUENCES), env.seed, { caseId: 'adv-dirty-isolation', vendor: env.vendor });
    });
  },
};
