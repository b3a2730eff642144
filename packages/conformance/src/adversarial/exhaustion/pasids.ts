import { ConformanceFailure } from '../../kit.js';
import type { Caps } from '../../types.js';
import { attempt } from '../api.js';
import { exhaustionMachine, type Phase } from './context.js';
import { checkExhaustionErrno } from './limits.js';

/**
 * Host PASIDs: an mdev attached with one vPASID after another (each takes a host PASID) until a
 * refusal, which must be ENOSPC/ENOMEM once the vPASIDs themselves are not the limit; the victim
 * unchanged; closing the fd gives every PASID back, and attaching works again.
 */
export function hostPasids(p: Phase, caps: Caps): void {
  if (caps.mdevAttach !== true || !caps.md || caps.md.pasidBits === 0) {
    p.tally.note(`host PASIDs: not exercised (${caps.mdevAttach === true ? 'the mdev has no PASID width' : caps.mdevAttach})`);
    return;
  }
  const { m, witness } = exhaustionMachine(p, undefined);
  const base = m.pasids.inUse;
  const open = () => {
    const fd = m.openIoasidFd();
    const md = m.device('md');
    const b = attempt('BIND_IOASID_FD(md)', () => md.bindIoasidFd(fd, { label: 'mdev' }));
    if (!b.ok) throw new ConformanceFailure(`exhaustion: BIND_IOASID_FD of the mdev failed: ${b.error?.message ?? ''}`);
    const a = attempt('ALLOC', () => fd.alloc({ protocol: 'map' }));
    if (!a.ok) throw new ConformanceFailure(`exhaustion: ALLOC on the mdev fd failed: ${a.error?.message ?? ''}`);
    return { fd, md, ioasid: a.value };
  };
  const s = open();
  const vpasids = 2 ** Math.min(caps.md.pasidBits, 20) - 1;
  let n = 0;
  let refused: string | undefined;

  for (; n <= vpasids && n < p.maxOps; n++) {
    const userPasid = n === 0 ? undefined : n;
    const inUse = m.pasids.inUse;
    const r = attempt(() => `ATTACH(md, vPASID ${userPasid})`, () => s.md.attachIoasid(s.ioasid, userPasid === undefined ? {} : { userPasid }));
    if (!r.ok) {
      checkExhaustionErrno(r.errno!, r.error!.message, `ATTACH of an mdev taking host PASID #${inUse + 1}`);
      if (m.pasids.inUse !== inUse) throw new ConformanceFailure(`atomicity: refused ATTACH (${r.errno}) changed the host PASIDs in use ${inUse} → ${m.pasids.inUse}`);
      refused = r.errno;
      break;
    }
    p.tally.add('host PASIDs taken');
    if ((n & 255) === 255) witness.check(`${n + 1} mdev attaches`);
  }
  witness.check(`${n} mdev attaches`);
  const c = attempt('close the mdev fd', () => s.fd.close());
  if (!c.ok) throw new ConformanceFailure(`exhaustion: closing the mdev fd was refused: ${c.error?.message ?? ''}`);
  if (m.pasids.inUse !== base) throw new ConformanceFailure(`cleanup: ${m.pasids.inUse - base} host PASID(s) still in use after the fd holding them was closed`);
  const t = open();
  const again = attempt('ATTACH(md) after the PASIDs were given back', () => t.md.attachIoasid(t.ioasid));
  if (!again.ok) throw new ConformanceFailure(`exhaustion: after closing the fd that held ${n} host PASIDs, ATTACH of an mdev still fails: ${again.error?.message ?? ''}`);
  p.tally.note(refused ? `host PASIDs: ${n}, then ${refused}` : `host PASIDs: ${n} without running out (${n > vpasids ? "the mdev's vPASIDs" : 'budget'})`);
}
