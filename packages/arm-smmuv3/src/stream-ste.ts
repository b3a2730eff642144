import { getField } from '@ioasid/core';
import { OP } from './tables/commands.js';
import { S1DSS_BYPASS, S1DSS_SSID0, S1DSS_TERMINATE, STE, STE_CONFIG_NESTED } from './tables/ste.js';
import type { IdCaps } from './hw/features.js';
import { abortSte, nestedSte, s1Ste, s2Ste } from './ste-builder.js';
import { atcInv } from './invalidation.js';
import { S2Domain } from './domain-s2.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import { streamAts, streamParent, streamPri, type StreamState } from './stream-state.js';
import type { ProbedUnit } from './probe.js';

function kernelS1Bound(s: StreamState): boolean {
  if (s.rid instanceof UserPgtableDomain && s.rid.bound) return true;
  for (const c of s.pasids.values()) if (c.bound) return true;
  return false;
}

/** The STE the stream's attachments call for (Linux arm_smmu_make_*_ste). */
export function streamSte(s: StreamState, caps: IdCaps): Uint32Array {
  const ats = streamAts(s) && caps.ats;
  if (s.kpasids.size > 0 && s.hcd) {
    // Kernel-managed spaces per SubstreamID: stage 1 STE; CD 0 serves the StreamID's own space.
    const s1dss = s.rid instanceof S2Domain ? S1DSS_SSID0 : S1DSS_TERMINATE;
    return s1Ste({ ctxPtr: s.hcd.addr, s1fmt: s.hcd.s1fmt, s1cdmax: s.hcd.s1cdmax, s1dss, stallDisabled: true }, ats);
  }
  const p = streamParent(s);
  if (!p) return abortSte();
  if (kernelS1Bound(s) && s.kcd) {
    // Non-PASID traffic: CD 0 when a stage 1 table is attached at the StreamID, stage 2 only
    // when the parent is, and terminated while the StreamID is between two attachments.
    const s1dss = s.rid instanceof UserPgtableDomain ? S1DSS_SSID0 : s.rid ? S1DSS_BYPASS : S1DSS_TERMINATE;
    return nestedSte({ ctxPtr: s.kcd.addr, s1fmt: s.kcd.s1fmt, s1cdmax: s.kcd.s1cdmax, s1dss, stallDisabled: true }, p.s2Table(), ats);
  }
  if (s.rid instanceof PasidTableDomain && s.rid.bound) {
    const b = s.rid.bound;
    return nestedSte(
      { ctxPtr: b.ctxPtr, s1fmt: b.s1fmt, s1cdmax: b.s1cdmax, s1dss: S1DSS_SSID0, stallDisabled: true },
      { ...p.s2Table(), vmid: s.rid.vmid },
      ats,
    );
  }
  if (!s.rid) return abortSte();
  return s2Ste(p.s2Table(), ats);
}

/** Writes the stream's STE if it changed, then CFGI_STE + SYNC, ATC invalidation and ATS/PRI enables. */
export function installSte(k: Pick<ProbedUnit, 'unit' | 'strtab' | 'cmdq' | 'caps'>, s: StreamState): void {
  const ste = streamSte(s, k.caps);
  if (s.ste && s.ste.every((w, i) => w === ste[i])) return;
  const ep = k.unit.endpoints.peek(s.sid);
  const eats = getField(ste, 0, STE.EATS) !== 0;
  const nested = getField(ste, 0, STE.Config) === STE_CONFIG_NESTED;
  if (ep?.atsEnabled && !eats) k.unit.configureEndpoint(s.sid, { ats: false });
  k.strtab.writeSte(s.sid, ste);
  k.cmdq.issue([[OP.CFGI_STE, { SID: s.sid, LEAF: 1 }]]);
  if (ep?.atsEnabled && eats) k.cmdq.issue([atcInv(s.sid, null, 0, 0)]);
  if (eats) k.unit.configureEndpoint(s.sid, { ats: true });
  k.unit.configureEndpoint(s.sid, { pri: nested && streamPri(s) && k.caps.pri });
  s.ste = ste;
}
