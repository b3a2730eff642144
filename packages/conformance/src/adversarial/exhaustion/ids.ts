import { ConformanceFailure } from '../../kit.js';
import { attempt } from '../api.js';
import type { IoasidFd } from '@ioasid/core';
import { Attacker } from './attacker.js';
import { exhaustionMachine, type Phase } from './context.js';
import { checkExhaustionErrno, mib } from './limits.js';
import { Pace, timeBatch, type Batch } from './scaling.js';
import { EXHAUSTION_DEVICES } from './witness.js';
import { machineWith } from '../machine.js';

const BATCH = 256;
const PROBE = 256;

/** µs per ALLOC of PROBE ALLOCs on `fd`, given back with FREE (what is in use stays as it was). */
function allocBatch(fd: () => IoasidFd | undefined): Batch {
  return () => {
    const f = fd();
    if (!f) return undefined;
    const got: number[] = [];
    const us = timeBatch(PROBE, () => {
      const r = attempt('ALLOC (timing)', () => f.alloc({ protocol: 'map' }));
      if (r.ok) got.push(r.value);
      return r.ok;
    });
    for (const id of got) attempt('FREE (timing)', () => f.free(id));
    return us;
  };
}

/**
 * Every ID space behind ALLOC (IOASIDs, domain IDs, VMIDs/ASIDs, PEs, table memory) on a machine
 * of the default size: ALLOC until ENOMEM/ENOSPC or the budget, timed per batch of 1024 so that
 * an allocator whose cost grows with the IDs in use (57,350 ALLOCs in 62 s) fails early; the
 * victim and the attacker's own DMA checked along the way; FREE makes room again.
 */
export function idSpaces(p: Phase): void {
  const { m, witness } = exhaustionMachine(p, undefined);
  const att = Attacker.create(m, p.w);
  const ids: number[] = [];
  // The small side of the comparison: a fresh machine of the same vendor, made when needed.
  let control: IoasidFd | undefined;
  const small = () => {
    if (!control) {
      const r = attempt('a fresh machine to compare ALLOC with', () => machineWith(p.env, EXHAUSTION_DEVICES).openIoasidFd());
      control = r.ok ? r.value : undefined;
    }
    return control;
  };
  const pace = new Pace('ALLOC', BATCH, allocBatch(() => att.fd), allocBatch(small));
  let refused: string | undefined;
  for (let n = 0; n < p.maxOps; n++) {
    const frames = m.hostMemory.framesInUse;
    const r = attempt(() => `ALLOC #${n + 1}`, () => att.fd.alloc({ protocol: 'map' }));
    if (!r.ok) {
      checkExhaustionErrno(r.errno!, r.error!.message, `ALLOC #${n + 1}`);
      if (m.hostMemory.framesInUse !== frames) throw new ConformanceFailure(`atomicity: refused ALLOC (${r.errno}) changed framesInUse ${frames} → ${m.hostMemory.framesInUse}`);
      refused = `${r.errno} (${r.error!.message.slice(r.errno!.length + 2, 120)})`;
      break;
    }
    ids.push(r.value);
    p.tally.add('ALLOCs (ID spaces)');
    pace.tick(n + 1);
    if ((n + 1) % 4096 === 0) {
      witness.check(`${n + 1} ALLOCs on another fd`);
      att.check(`${n + 1} ALLOCs`);
    }
  }
  const secs = pace.seconds();
  witness.check(`${ids.length} ALLOCs on another fd`);
  att.check(`${ids.length} ALLOCs`);
  const speed = pace.text() ? `, ${pace.text()}` : '';
  if (refused === undefined) {
    p.tally.note(`IDs: ${ids.length} ALLOCs without running out (budget) in ${secs.toFixed(1)} s${speed}, ${mib(m.hostMemory.framesInUse)} in use`);
    return;
  }
  for (const id of ids.splice(ids.length - Math.min(16, ids.length))) {
    const f = attempt(`FREE ${id}`, () => att.fd.free(id));
    if (!f.ok) throw new ConformanceFailure(`exhaustion: FREE of an unused IOASID was refused: ${f.error?.message ?? ''}`);
  }
  const again = attempt('ALLOC after FREE', () => att.fd.alloc({ protocol: 'map' }));
  if (!again.ok) throw new ConformanceFailure(`exhaustion: after FREE of 16 IOASIDs, ALLOC still fails: ${again.error?.message ?? ''}`);
  p.tally.note(`IDs: ${ids.length + 16} ALLOCs, then ${refused}, in ${secs.toFixed(1)} s${speed}`);
}
