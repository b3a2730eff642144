import type { TraceFieldValue } from '@ioasid/core';
import { IOSATP_MODE, pidBitsOf, svFromIosatpMode, type PdMode } from '../tables/atp.js';
import { CAUSE } from '../tables/fault-catalogue.js';
import { PC_FSC_RESERVED, PC_TA_RESERVED, PDTE_RESERVED, decodeProcessContext, pdi, pdtLevels, type ProcessContext } from '../tables/process-context.js';
import { inMemory, isFault, type WalkEnv, type WalkFault } from './walk-env.js';

/** A G-stage translation of a PDT page (identity when iohgatp is Bare). */
export type PdtFetch = (gpaFrame: number) => number | WalkFault;

/**
 * Locating the process context (spec §2.3.2): walk the PDT from pdtp, each level's page address
 * translated by the G-stage when iohgatp is not Bare (an implicit read), then check the PC
 * (§2.2.4). Bounded: at most three levels.
 */
export function fetchProcessContext(env: WalkEnv, mode: PdMode, rootFrame: number, pid: number, fetch: PdtFetch): ProcessContext | WalkFault {
  if (pid >= 2 ** pidBitsOf(mode)) return { cause: CAUSE.TTYP_BLOCKED, why: `process_id ${pid} wider than ${mode}` };
  let frame = rootFrame;
  for (let i = pdtLevels(mode) - 1; ; i--) {
    env.tracer?.begin();
    const spa = fetch(frame);
    env.tracer?.end();
    if (isFault(spa)) return spa;
    const index = pdi(pid, i);
    if (i === 0) {
      const pa = spa * 4096 + index * 16;
      if (!inMemory(env, pa, 16)) return { cause: CAUSE.PDT_LOAD_FAULT, why: `process context at 0x${pa.toString(16)} outside memory` };
      const q = [env.mem.u64(pa), env.mem.u64(pa + 8)];
      const pc = decodeProcessContext(q);
      const bad = pc.V ? pcMisconfigured(env, q, pc) : null;
      env.tracer?.read({
        structure: 'process context',
        level: 0,
        index,
        addr: BigInt(pa),
        raw: q,
        fields: { V: pc.V, ENS: pc.ENS, SUM: pc.SUM, PSCID: pc.PSCID, 'fsc.MODE': pc.fsc.MODE, 'fsc.PPN': BigInt(pc.fsc.PPN) },
        decided: !pc.V ? 'ta.V = 0' : bad ?? 'ta.V = 1',
      });
      if (!pc.V) return { cause: CAUSE.PDT_INVALID, why: `process context ${pid} not valid` };
      if (bad) return { cause: CAUSE.PDT_MISCONFIGURED, why: bad };
      return pc;
    }
    const pa = spa * 4096 + index * 8;
    if (!inMemory(env, pa, 8)) return { cause: CAUSE.PDT_LOAD_FAULT, why: `PDT entry at 0x${pa.toString(16)} outside memory` };
    const raw = env.mem.u64(pa);
    const v = (raw & 1n) !== 0n;
    const fields: Record<string, TraceFieldValue> = { V: v, PPN: (raw >> 10n) & ((1n << 44n) - 1n) };
    const decided = !v ? 'V = 0' : (raw & PDTE_RESERVED) !== 0n ? 'reserved bits' : 'V = 1';
    env.tracer?.read({ structure: 'non-leaf PDT entry', level: i, index, addr: BigInt(pa), raw: [raw], fields, decided });
    if (!v) return { cause: CAUSE.PDT_INVALID, why: `non-leaf PDT entry PDI[${i}] = ${index} not valid` };
    if ((raw & PDTE_RESERVED) !== 0n) return { cause: CAUSE.PDT_MISCONFIGURED, why: `non-leaf PDT entry PDI[${i}] reserved bits set` };
    frame = Number((raw >> 10n) & ((1n << 44n) - 1n));
  }
}

/** §2.2.4: the reason a valid PC is misconfigured, or null. */
export function pcMisconfigured(env: WalkEnv, q: readonly bigint[], pc: ProcessContext): string | null {
  if ((q[0] & PC_TA_RESERVED) !== 0n || (q[1] & PC_FSC_RESERVED) !== 0n) return 'reserved bits set';
  if (pc.fsc.MODE === IOSATP_MODE.Bare) return null;
  const sv = svFromIosatpMode(pc.fsc.MODE);
  if (!sv || !env.caps.sv[sv]) return `fsc.MODE ${pc.fsc.MODE} not supported`;
  return null;
}
