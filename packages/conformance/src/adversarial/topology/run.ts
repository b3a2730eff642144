import type { Device } from '@ioasid/core';
import { ConformanceFailure, fmtValue } from '../../kit.js';
import type { KitEnv } from '../../types.js';
import type { Window } from '../../properties/common.js';
import { attempt } from '../api.js';
import { machineWith } from '../machine.js';
import { command } from '../state.js';
import type { Tally } from '../tally.js';
import type { TopoAction } from './actions.js';
import { Buffers } from './buffers.js';
import { TopoModel } from './model.js';
import { devicesOf, type Shape } from './shape.js';
import { step, type StepEnv } from './steps.js';
import { drain, readSweep, writeSweep, type Sweeper } from './sweep.js';
import { checkNoKernelLeaf } from '../../reach.js';

/** Pages in each fd's VMM buffer. */
export const PAGES = 6;

/**
 * Every run starts from two fds, the first device's group bound to fd0, and three IOASIDs that
 * already map pages before anything is attached, so that the random steps matter at once.
 */
const PREFIX: TopoAction[] = [
  { t: 'open' },
  { t: 'open' },
  { t: 'bind', d: 0, f: 0, mode: 'group' },
  { t: 'alloc', f: 0 },
  { t: 'alloc', f: 0 },
  { t: 'alloc', f: 1 },
  { t: 'map', f: 0, o: 0, s: 0, n: 2, target: 0 },
  { t: 'map', f: 0, o: 1, s: 1, n: 2, target: 2 },
  { t: 'map', f: 1, o: 0, s: 0, n: 2, target: 4 },
];

/**
 * One sequence on one random machine: after every step that changed something, every
 * (device, PASID) reads every slot; at 'sweep' steps and at the end they also write.
 */
export function runSequence(env: KitEnv, w: Window, shape: Shape, actions: TopoAction[], strict: boolean, tally: Tally): void {
  const devices = devicesOf(shape);
  const made = attempt(() => `createMachine(${fmtValue(devices)})`, () => machineWith(env, devices));
  if (!made.ok) throw new ConformanceFailure(`createMachine with devices ${fmtValue(devices)} was refused: ${made.error?.message ?? ''}`);
  const m = made.value;
  const model = new TopoModel(devices);
  const buffers = new Buffers(m, PAGES, w.g);
  const devs = new Map<string, Device>(m.deviceList.map((d) => [d.name, d]));
  let serial = 0;
  const iova = (s: number) => w.base + BigInt(s) * w.g;
  const e: StepEnv = { m, model, buffers, tally, slots: w.slots, pages: PAGES, strict, iova, nextSerial: () => serial++ };
  const sw: Sweeper = { m, model, buffers, devs, iova, slots: w.slots, tally };
  tally.add('sequences');
  const all = [...PREFIX, ...actions];
  all.forEach((a, i) => {
    const at = `step ${i - PREFIX.length} ${JSON.stringify(a)}`;
    tally.add('steps');
    const changed = step(e, a, at);
    if (changed) readSweep(sw, `after ${at}`);
    if (a.t === 'sweep') writeSweep(sw, `after ${at}`);
    drain(sw);
  });
  readSweep(sw, 'final sweep');
  writeSweep(sw, 'final sweep');
  // Every space's tables in memory hold only what MAP_DMA put there: no leaf maps a kernel frame.
  for (const f of model.fds) {
    for (const io of f.ioasids) {
      checkNoKernelLeaf(f.fd, io.id, `final tables of ${model.ioName(io)}`);
      tally.add('tables dumped');
    }
  }
  for (const f of [...model.fds]) {
    const r = command(m, `close ${f.name}`, () => f.fd.close());
    if (!r.ok) throw new ConformanceFailure(`cleanup: closing ${f.name} was refused: ${r.error?.message ?? ''}`);
    model.closeFd(f);
  }
  // Nothing is attached any more: every device's DMA must fault now.
  readSweep(sw, 'after closing every fd');
  if (m.pasids.inUse !== 0) throw new ConformanceFailure(`cleanup: ${m.pasids.inUse} host PASID(s) still in use after every fd was closed`);
}
