import fc from 'fast-check';
import type { Device, IoasidFd, Machine } from '@ioasid/core';
import type { CaseDef, KitEnv } from '../types.js';
import { check, closeFd, expectDmaFault, expectErrno, expectOk, fmtValue, newMachine, openFd, pattern, sameBytes, vmmBuffer } from '../kit.js';
import { assertProperty, drainFaults, probeWindow, type Window } from './common.js';

const SLOTS = 12;
const PAGES = 10;
const MAX_IOASIDS = 5;
const DEVICES = ['dev0', 'dev1'];

export type ModelAction =
  | { t: 'alloc' }
  | { t: 'nest'; p: number }
  | { t: 'attach'; d: number; o: number }
  | { t: 'detach'; d: number; o: number }
  | { t: 'map'; o: number; s: number; n: number; target: number; ro: boolean }
  | { t: 'unmap'; o: number; s: number; n: number }
  | { t: 'unmapAll'; o: number }
  | { t: 'free'; o: number }
  | { t: 'dma'; d: number; s: number; write: boolean }
  | { t: 'invalidate'; o: number }
  | { t: 'sweep' };

interface RefMap {
  s: number;
  n: number;
  /** VMM page (top-level) or parent slot (software child). */
  target: number;
  ro: boolean;
}

interface RefIoasid {
  id: number;
  parent?: RefIoasid;
  maps: RefMap[];
  children: Set<RefIoasid>;
  attached: Set<number>;
}

const idx = fc.nat({ max: 7 });
const dev = fc.nat({ max: DEVICES.length - 1 });
const slot = fc.nat({ max: SLOTS - 1 });

export const modelAction: fc.Arbitrary<ModelAction> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<ModelAction>({ t: 'alloc' }) },
  { weight: 1, arbitrary: idx.map((p): ModelAction => ({ t: 'nest', p })) },
  { weight: 3, arbitrary: fc.record({ d: dev, o: idx }).map((r): ModelAction => ({ t: 'attach', ...r })) },
  { weight: 1, arbitrary: fc.record({ d: dev, o: idx }).map((r): ModelAction => ({ t: 'detach', ...r })) },
  {
    weight: 5,
    arbitrary: fc
      .record({ o: idx, s: slot, n: fc.integer({ min: 1, max: 3 }), target: fc.nat({ max: SLOTS - 1 }), ro: fc.boolean() })
      .map((r): ModelAction => ({ t: 'map', ...r })),
  },
  { weight: 2, arbitrary: fc.record({ o: idx, s: slot, n: fc.integer({ min: 1, max: 5 }) }).map((r): ModelAction => ({ t: 'unmap', ...r })) },
  { weight: 1, arbitrary: idx.map((o): ModelAction => ({ t: 'unmapAll', o })) },
  { weight: 1, arbitrary: idx.map((o): ModelAction => ({ t: 'free', o })) },
  { weight: 5, arbitrary: fc.record({ d: dev, s: slot, write: fc.boolean() }).map((r): ModelAction => ({ t: 'dma', ...r })) },
  { weight: 1, arbitrary: idx.map((o): ModelAction => ({ t: 'invalidate', o })) },
  { weight: 1, arbitrary: fc.constant<ModelAction>({ t: 'sweep' }) },
);

/** The system under test next to the plain reference model, stepped together. */
class ModelRun {
  readonly m: Machine;
  readonly fd: IoasidFd;
  readonly devs: Device[];
  readonly va: bigint;
  readonly live: RefIoasid[] = [];
  private seq = 0;

  constructor(
    env: KitEnv,
    readonly w: Window,
  ) {
    this.m = newMachine(env);
    const s = openFd(this.m, ...DEVICES);
    this.fd = s.fd;
    this.devs = s.devs;
    this.va = vmmBuffer(this.m, BigInt(PAGES) * w.g, w.g);
    for (let p = 0; p < PAGES; p++) this.m.vmm.write(this.va + BigInt(p) * w.g, pattern(500 + p, 8));
  }

  private pick(o: number): RefIoasid | undefined {
    return this.live.length === 0 ? undefined : this.live[o % this.live.length];
  }

  iova(s: number): bigint {
    return this.w.base + BigInt(s) * this.w.g;
  }

  /** Where device d's RID requests go: its child if it is attached to one, else its top-level space. */
  route(d: number): RefIoasid | undefined {
    return this.live.find((o) => o.parent && o.attached.has(d)) ?? this.live.find((o) => !o.parent && o.attached.has(d));
  }

  /** The VMM page device d reaches at slot s, or null when the DMA must fault. */
  expected(d: number, s: number): { page: number; ro: boolean } | null {
    const o = this.route(d);
    if (!o) return null;
    const m = o.maps.find((x) => s >= x.s && s < x.s + x.n);
    if (!m) return null;
    const t = m.target + (s - m.s);
    if (!o.parent) return { page: t, ro: m.ro };
    const pm = o.parent.maps.find((x) => t >= x.s && t < x.s + x.n);
    if (!pm) return null;
    return { page: pm.target + (t - pm.s), ro: m.ro || pm.ro };
  }

  lockedPages(): number {
    const per = Number(this.w.g / 4096n);
    return this.live.filter((o) => !o.parent).reduce((sum, o) => sum + o.maps.reduce((a, m) => a + m.n * per, 0), 0);
  }

  step(a: ModelAction, at: string): void {
    const fd = this.fd;
    switch (a.t) {
      case 'alloc': {
        if (this.live.length >= MAX_IOASIDS) return;
        const id = expectOk(() => fd.alloc({ protocol: 'map' }), `${at}: ALLOC`);
        this.live.push({ id, maps: [], children: new Set(), attached: new Set() });
        return;
      }
      case 'nest': {
        const p = this.pick(a.p);
        if (!p) return;
        if (p.parent) {
          expectErrno(() => fd.createNesting({ parent: p.id, protocol: 'map' }), 'EINVAL', `${at}: CREATE_NESTING under a child`);
          return;
        }
        if (this.live.length >= MAX_IOASIDS) return;
        const id = expectOk(() => fd.createNesting({ parent: p.id, protocol: 'map' }), `${at}: CREATE_NESTING(map)`);
        const c: RefIoasid = { id, parent: p, maps: [], children: new Set(), attached: new Set() };
        p.children.add(c);
        this.live.push(c);
        return;
      }
      case 'attach': {
        const o = this.pick(a.o);
        if (!o) return;
        const what = `${at}: ATTACH ${DEVICES[a.d]} → ${o.id}`;
        const route = this.route(a.d);
        if (o.attached.has(a.d)) expectErrno(() => this.devs[a.d].attachIoasid(o.id), 'EBUSY', `${what} (already attached)`);
        else if (o.parent && !o.parent.attached.has(a.d)) expectErrno(() => this.devs[a.d].attachIoasid(o.id), 'EINVAL', `${what} (child before parent)`);
        else if (o.parent ? route !== o.parent : route !== undefined) expectErrno(() => this.devs[a.d].attachIoasid(o.id), 'EBUSY', `${what} (RID routed elsewhere)`);
        else {
          expectOk(() => this.devs[a.d].attachIoasid(o.id), what);
          o.attached.add(a.d);
        }
        return;
      }
      case 'detach': {
        const o = this.pick(a.o);
        if (!o) return;
        const what = `${at}: DETACH ${DEVICES[a.d]} from ${o.id}`;
        if (!o.attached.has(a.d)) expectErrno(() => this.devs[a.d].detachIoasid(o.id), 'EINVAL', `${what} (not attached)`);
        else if ([...o.children].some((c) => c.attached.has(a.d))) expectErrno(() => this.devs[a.d].detachIoasid(o.id), 'EBUSY', `${what} (child attached)`);
        else {
          expectOk(() => this.devs[a.d].detachIoasid(o.id), what);
          o.attached.delete(a.d);
        }
        return;
      }
      case 'map': {
        const o = this.pick(a.o);
        if (!o) return;
        const n = Math.min(a.n, SLOTS - a.s);
        const limit = o.parent ? SLOTS : PAGES;
        const target = Math.min(a.target, limit - n);
        if (target < 0) return;
        const vaddr = o.parent ? this.iova(target) : this.va + BigInt(target) * this.w.g;
        const args = { ioasid: o.id, iova: this.iova(a.s), vaddr, size: BigInt(n) * this.w.g, read: true, write: !a.ro };
        const what = `${at}: MAP_DMA ${fmtValue({ ...args, ioasid: o.id })}`;
        if (o.maps.some((x) => x.s < a.s + n && a.s < x.s + x.n)) {
          expectErrno(() => fd.mapDma(args), 'EEXIST', `${what} (overlap)`);
          return;
        }
        expectOk(() => fd.mapDma(args), what);
        o.maps.push({ s: a.s, n, target, ro: a.ro });
        return;
      }
      case 'unmap': {
        const o = this.pick(a.o);
        if (!o) return;
        const n = Math.min(a.n, SLOTS - a.s);
        const args = { ioasid: o.id, iova: this.iova(a.s), size: BigInt(n) * this.w.g };
        const what = `${at}: UNMAP_DMA ${fmtValue(args)}`;
        const hit = o.maps.filter((x) => x.s < a.s + n && a.s < x.s + x.n);
        if (hit.some((x) => x.s < a.s || x.s + x.n > a.s + n)) {
          expectErrno(() => fd.unmapDma(args), 'EINVAL', `${what} (cuts a map)`);
          return;
        }
        const bytes = expectOk(() => fd.unmapDma(args), what);
        const want = BigInt(hit.reduce((sum, x) => sum + x.n, 0)) * this.w.g;
        check(bytes === want, () => `${what} returned ${bytes}, the model says ${want}`);
        for (const x of hit) o.maps.splice(o.maps.indexOf(x), 1);
        return;
      }
      case 'unmapAll': {
        const o = this.pick(a.o);
        if (!o) return;
        const bytes = expectOk(() => fd.unmapDma({ ioasid: o.id, all: true }), `${at}: UNMAP_DMA(all) of ${o.id}`);
        const want = BigInt(o.maps.reduce((sum, x) => sum + x.n, 0)) * this.w.g;
        check(bytes === want, () => `${at}: UNMAP_DMA(all) returned ${bytes}, the model says ${want}`);
        o.maps.length = 0;
        return;
      }
      case 'free': {
        const o = this.pick(a.o);
        if (!o) return;
        if (o.attached.size > 0 || o.children.size > 0) {
          expectErrno(() => fd.free(o.id), 'EBUSY', `${at}: FREE of ${o.id} (attached or with children)`);
          return;
        }
        expectOk(() => fd.free(o.id), `${at}: FREE ${o.id}`);
        o.parent?.children.delete(o);
        this.live.splice(this.live.indexOf(o), 1);
        return;
      }
      case 'dma':
        this.dma(a.d, a.s, a.write, at);
        return;
      case 'invalidate': {
        const o = this.pick(a.o);
        if (o) expectOk(() => fd.invalidateCache({ ioasid: o.id, all: true }), `${at}: INVALIDATE_CACHE(all) of ${o.id}`);
        return;
      }
      case 'sweep':
        this.sweep(at);
        return;
    }
  }

  dma(d: number, s: number, write: boolean, at: string): void {
    const want = this.expected(d, s);
    const dev = this.devs[d];
    const iova = this.iova(s);
    const what = `${at}: ${DEVICES[d]} DMA ${write ? 'write' : 'read'} at slot ${s} (${fmtValue(iova)})`;
    if (!want || (write && want.ro)) {
      expectDmaFault(dev, () => (write ? dev.dmaWrite(iova + 64n, new Uint8Array(4)) : dev.dmaRead(iova, 8)), `${what}: the model says it faults`);
      return;
    }
    const pageVa = this.va + BigInt(want.page) * this.w.g;
    if (write) {
      const marker = pattern(++this.seq + 9000, 4);
      expectOk(() => dev.dmaWrite(iova + 64n, marker), `${what}: the model says page ${want.page}`);
      sameBytes(this.m.vmm.read(pageVa + 64n, 4), marker, `${what}: the write must land in VMM page ${want.page}`);
    } else {
      sameBytes(expectOk(() => dev.dmaRead(iova, 8), `${what}: the model says page ${want.page}`), pattern(500 + want.page, 8), `${what}: bytes of VMM page ${want.page}`);
    }
  }

  /** Every slot, every device: mapped pages translate to the right bytes, the rest faults. */
  sweep(at: string): void {
    for (let d = 0; d < DEVICES.length; d++) for (let s = 0; s < SLOTS; s++) this.dma(d, s, false, `${at} (sweep)`);
    drainFaults(this.m);
  }

  checkAccounting(at: string): void {
    const want = this.lockedPages();
    check(this.fd.accounting.lockedPages === want, () => `${at}: lockedPages ${this.fd.accounting.lockedPages}, the model says ${want}`);
  }
}

/** Every run starts from two spaces with one device each, so that the random steps matter at once. */
const PREFIX: ModelAction[] = [
  { t: 'alloc' },
  { t: 'alloc' },
  { t: 'attach', d: 0, o: 0 },
  { t: 'attach', d: 1, o: 1 },
];

export function runModel(env: KitEnv, w: Window, actions: ModelAction[]): void {
  const run = new ModelRun(env, w);
  PREFIX.forEach((a, i) => run.step(a, `prefix ${i} ${fmtValue(a)}`));
  actions.forEach((a, i) => {
    const at = `step ${i} ${fmtValue(a)}`;
    run.step(a, at);
    run.checkAccounting(at);
    // Reads at every slot after each change: they fill the IOTLB, so a stale entry left by the
    // next change is caught, and every mapped page is checked against the model.
    if (a.t !== 'dma' && a.t !== 'sweep') run.sweep(at);
  });
  run.sweep('final');
  closeFd(run.fd);
  check(run.m.pasids.inUse === 0, 'no host PASID in use after close');
}

/**
 * Model-based: random sequences of ALLOC, CREATE_NESTING (software), ATTACH, DETACH, MAP_DMA,
 * UNMAP_DMA, FREE, INVALIDATE_CACHE and DMA, compared step by step with a plain reference model;
 * sweeps check that every mapped page translates to the right bytes and every other page faults.
 */
export const modelCase: CaseDef = {
  id: 'prop-model',
  group: 'property',
  title: 'property: model-based sequences (alloc/attach/map/unmap/software nesting/DMA) against a reference model',
  run(env) {
    const w = probeWindow(env, SLOTS);
    assertProperty(env, 'prop-model', fc.array(modelAction, { minLength: 8, maxLength: 40, size: 'max' }), (actions) => runModel(env, w, actions));
  },
};

