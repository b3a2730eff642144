/**
 * The adversarial group's own machinery (packages/conformance/src/adversarial): registration and
 * result details, the guards every case relies on (API outcomes, the view watchdog, atomicity
 * snapshots), the topology model's rules and reachability, the scaling verdict and junk probes.
 */
import { describe, expect, it } from 'vitest';
import { IoasidError, createMachine, type IoasidInfo } from '@ioasid/core';
import '@ioasid/intel-vtd';
import { ConformanceFailure, DEFAULT_RUNS, executeCase, listCases, probeCaps, type CaseDef } from '@ioasid/conformance';
import { attempt } from '../packages/conformance/src/adversarial/api.js';
import { scaled } from '../packages/conformance/src/adversarial/budget.js';
import { Failures } from '../packages/conformance/src/adversarial/failures.js';
import { command } from '../packages/conformance/src/adversarial/state.js';
import { Tally, reporting } from '../packages/conformance/src/adversarial/tally.js';
import { watched } from '../packages/conformance/src/adversarial/views/watchdog.js';
import { Pace } from '../packages/conformance/src/adversarial/exhaustion/scaling.js';
import { TopoModel, type MFd } from '../packages/conformance/src/adversarial/topology/model.js';
import { callSpecs } from '../packages/conformance/src/adversarial/junk/calls.js';
import { probesOf } from '../packages/conformance/src/adversarial/junk/probes.js';
import { widthIovas, widthSizes } from '../packages/conformance/src/adversarial/widths/values.js';
import { nestedReachEdges } from '../packages/conformance/src/adversarial/nested-reach.js';

const ENV = { vendor: 'intel-vtd', runs: DEFAULT_RUNS, machineOptions: {} };
const machine = () => createMachine({ vendor: 'intel-vtd', guestMemory: 4n << 20n, devices: [{ name: 'dev0' }] });

describe('registration and results', () => {
  it('the adversarial cases are in the kit, in their own group', () => {
    const ids = listCases().filter((c) => c.group === 'adversarial').map((c) => c.id);
    expect(ids).toEqual(['adv-topology', 'adv-topology-rules', 'adv-exhaustion', 'adv-widths', 'adv-junk', 'adv-hostile-views', 'adv-dirty-isolation', 'adv-nested-reach']);
  });

  it('adv-nested-reach aims at the ends of every permitted range and gap, the powers of two and the end of guest RAM', () => {
    const info = { permittedRanges: [{ start: 0n, last: 0x7ffffffn }, { start: 0x8100000n, last: (1n << 48n) - 1n }] } as IoasidInfo;
    const e = nestedReachEdges(info, 32n << 20n, 4096n);
    for (const g of [0n, 0x7fff000n, 0x8000000n, 0x8100000n, (1n << 48n) - 4096n, 1n << 47n, (1n << 47n) - 4096n, 32n << 20n, (32n << 20n) - 4096n]) expect(e).toContain(g);
    expect(e).not.toContain(1n << 48n); // beyond the GPA space
    expect(e.every((g) => g % 4096n === 0n)).toBe(true);
    expect([...e].sort((x, y) => (x < y ? -1 : 1))).toEqual(e);
    expect(new Set(e).size).toBe(e.length);
  });

  it('a case reports its detail line on a pass and on a failure', () => {
    const caps = probeCaps(ENV);
    const pass: CaseDef = { id: 'x', title: 'x', group: 'adversarial', run: () => '3 sequences, 12 DMAs checked' };
    expect(executeCase(pass, ENV, caps).result).toMatchObject({ status: 'pass', detail: '3 sequences, 12 DMAs checked' });
    const t = new Tally();
    const fail: CaseDef = {
      id: 'y',
      title: 'y',
      group: 'adversarial',
      run: () =>
        reporting(t, () => {
          t.add('DMAs checked', 7);
          throw new ConformanceFailure('isolation: something');
        }),
    };
    expect(executeCase(fail, ENV, caps).result).toMatchObject({ status: 'fail', detail: '7 DMAs checked' });
  });

  it('budgets scale with the runs option', () => {
    expect(scaled(ENV, 40)).toBe(40);
    expect(scaled({ ...ENV, runs: DEFAULT_RUNS * 4 }, 40)).toBe(160);
    expect(scaled({ ...ENV, runs: 1 }, 40, 5)).toBe(5);
  });
});

describe('guards', () => {
  it('only IoasidError (and DmaFault from a DMA) may leave the API', () => {
    expect(attempt('x', () => 1)).toEqual({ ok: true, value: 1 });
    expect(attempt('x', () => { throw new IoasidError('EINVAL', 'no'); })).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(() => attempt('dmaWrite(2^52)', () => { throw new RangeError('bad index'); })).toThrow(/^only IoasidError\/DmaFault may leave the API: RangeError from dmaWrite\(2\^52\): bad index/);
  });

  it('a refused call that changed something fails naming what changed', () => {
    const m = machine();
    const fd = m.openIoasidFd();
    expect(() => command(m, 'ALLOC', () => { fd.alloc({ protocol: 'map' }); throw new IoasidError('ENOMEM', 'pretend'); })).toThrow(/^atomicity: refused ALLOC \(ENOMEM\) changed /);
    expect(command(m, 'ALLOC', () => { throw new IoasidError('ENOMEM', 'clean'); })).toMatchObject({ ok: false, errno: 'ENOMEM' });
  });

  it('the view watchdog stops a walk that never ends, and puts host memory back', () => {
    const m = machine();
    expect(() => watched(m, 'DUMP_PGTABLE of a loop', () => { for (;;) m.hostMemory.u32(0); }, false, 50)).toThrow(/^views: DUMP_PGTABLE of a loop did not return within 50 ms/);
    expect(Object.getOwnPropertyNames(m.hostMemory)).not.toContain('u32');
    expect(watched(m, 'a quick view', () => m.hostMemory.u32(0), false, 50)).toMatchObject({ ok: true });
  });

  it('independent parts all run, and the failure lists them', () => {
    const f = new Failures();
    f.run(() => { throw new ConformanceFailure('widths: one'); });
    f.run(() => {});
    f.run(() => { throw new ConformanceFailure('finite memory: two'); });
    expect(() => f.throwIfAny()).toThrow(/^widths: one\n  also:\n  finite memory: two$/);
  });
});

describe('the topology model', () => {
  const devices = [
    { name: 'p0', group: 0x700 },
    { name: 'p1', group: 0x700 },
    { name: 'p2', group: 0x701 },
    { name: 'p2m0', kind: 'mdev' as const, parent: 'p2' },
  ];
  const fdOf = (name: string, serial: number): MFd => ({ name, serial, fd: {} as never, buf: 0n, ioasids: [] });

  it('states the binding rules of DESIGN §2', () => {
    const model = new TopoModel(devices);
    const [fd0, fd1] = [fdOf('fd0', 0), fdOf('fd1', 1)];
    model.bound.set('p0', fd0);
    expect(model.ruleForBind('p1', fd0)).toBeNull();
    expect(model.ruleForBind('p1', fd1)).toMatchObject({ errnos: ['EBUSY'], text: expect.stringMatching(/^topology: p1 \(group 0x700\) was bound to fd1 while its group sibling p0 is bound to fd0/) });
    model.bound.set('p2m0', fd1);
    expect(model.ruleForBind('p2', fd0)?.text).toMatch(/^topology: parent p2 was bound to fd0 while its mdev p2m0 is bound to fd1/);
  });

  it('a group routes its RID to one IOASID (a child over it counts as the same)', () => {
    const model = new TopoModel(devices);
    const fd0 = fdOf('fd0', 0);
    const a = { id: 1, fd: fd0, maps: [{ s: 0, n: 1, target: 3 }] };
    const b = { id: 2, fd: fd0, maps: [] };
    const child = { id: 3, fd: fd0, parent: a, maps: [] };
    fd0.ioasids.push(a, b, child);
    model.atts.push({ dev: 'p0', io: a });
    expect(model.ruleForAttach('p1', b, undefined)?.errnos).toEqual(['EINVAL']);
    expect(model.ruleForAttach('p1', a, undefined)).toBeNull();
    expect(model.ruleForAttach('p1', child, undefined)).toBeNull();
    // An unattached sibling may reach what its group reaches; a device routed elsewhere only its own.
    expect([...model.allowed('p1', undefined, 0).pages]).toEqual(['0:3']);
    model.atts.push({ dev: 'p1', io: b });
    expect([...model.allowed('p1', undefined, 0).pages]).toEqual([]);
  });

  it("only a parent left with the host driver reaches its mdevs' host PASIDs", () => {
    const model = new TopoModel(devices);
    const fd1 = fdOf('fd1', 1);
    const io = { id: 1, fd: fd1, maps: [{ s: 2, n: 1, target: 0 }] };
    fd1.ioasids.push(io);
    model.bound.set('p2m0', fd1);
    model.atts.push({ dev: 'p2m0', io, wirePasid: 7 });
    expect([...model.allowed('p2', 7, 2).pages]).toEqual(['1:0']);
    expect([...model.allowed('p0', 7, 2).pages]).toEqual([]);
    // Stacked under a nested child (a new host PASID on top), the parent space keeps its own.
    const child = { id: 2, fd: fd1, parent: io, maps: [] };
    fd1.ioasids.push(child);
    model.atts.push({ dev: 'p2m0', io: child, wirePasid: 8 });
    expect([...model.allowed('p2', 7, 2).pages]).toEqual(['1:0']);
    model.bound.set('p2', fd1);
    expect([...model.allowed('p2', 7, 2).pages]).toEqual([]);
  });
});

describe('scaling verdict', () => {
  const run = (big: () => number, small: () => number) => {
    const pace = new Pace('ALLOC', 4, big, small);
    let cost = 1;
    for (let n = 1; n <= 64; n++) {
      const t0 = performance.now();
      while (performance.now() - t0 < cost / 1000);
      if (n > 20) cost = 400;
      pace.tick(n);
    }
  };

  it('fails when the big state is slower than a fresh one at the same moment', () => {
    expect(() => run(() => 400, () => 10)).toThrow(/^scaling: ALLOC costs 400 µs with \d+ in use against 10 µs on a fresh machine/);
  });

  it('does not fail when the whole machine got slower', () => {
    expect(() => run(() => 400, () => 380)).not.toThrow();
  });
});

describe('junk and widths', () => {
  it('every call gets wrong types, missing fields and unknown keys', () => {
    const m = machine();
    const map = callSpecs(m.openIoasidFd()).find((s) => s.name === 'MAP_DMA')!;
    const whats = probesOf(map).map((p) => p.what);
    expect(whats).toEqual(expect.arrayContaining(['MAP_DMA with iova = undefined', 'MAP_DMA with iova = 2^64', 'MAP_DMA with read = 1', 'MAP_DMA without size', "MAP_DMA with an unknown key 'bogus'", 'MAP_DMA with its argument = Symbol(junk)']));
  });

  it('IOVAs around every power of two up to 2^64, sizes up to 2^64', () => {
    const v = widthIovas();
    expect(v).toEqual(expect.arrayContaining([(1n << 52n) - 4096n, 1n << 52n, (1n << 52n) + 4096n, (1n << 64n) - 4096n, 1n << 64n]));
    expect(widthSizes((1n << 64n) - 4096n, 4096n)).toContain(4096n);
    expect(widthSizes(1n << 60n, 4096n)).toEqual(expect.arrayContaining([1n << 60n]));
  });
});
