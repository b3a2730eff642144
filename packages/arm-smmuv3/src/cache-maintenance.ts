import { getField, type InvalidateRequest } from '@ioasid/core';
import { granuleShift, stage1FromTcr, tgDecode } from './formats/lpae-geometry.js';
import { OP } from './tables/commands.js';
import { STE, STE_CONFIG_NESTED } from './tables/ste.js';
import { atcInv, invRange, tlbiRange, type Cmd, type InvRange } from './invalidation.js';
import type { SmmuPasidTableDomain as PasidTableDomain, SmmuS2Domain as S2Domain } from './domain-types.js';
import { streamUses } from './master.js';
import type { StreamState } from './domain-types.js';
import type { SmmuKernel } from './kernel-context.js';

// Keeping the unit's caches coherent with the kernel's tables: TLBI_* and ATC_INV commands after
// an INVALIDATE_CACHE or an unmap, and before a VMID or an ASID is reused.

export function atcFlushStreams(k: SmmuKernel, streams: Iterable<StreamState>, ssid: number | null, iova: number, size: number): void {
  const cmds: Cmd[] = [];
  for (const s of streams) if (k.unit.endpoints.peek(s.sid)?.atsEnabled) cmds.push(atcInv(s.sid, ssid, iova, size));
  if (cmds.length) k.cmdq.issue(cmds);
}

/** INVALIDATE_CACHE on a bound guest CD table: CFGI_CD(_ALL) and TLBI_NH_* for its contexts. */
export function invalidatePasidTable(k: SmmuKernel, child: PasidTableDomain, req: InvalidateRequest): void {
  const vmid = child.vmid;
  if (req.all && req.pasid === undefined) {
    const cmds: Cmd[] = [...child.streams].map((s) => [OP.CFGI_CD_ALL, { SID: s.sid }] as Cmd);
    cmds.push([OP.TLBI_NH_ALL, { VMID: vmid }]);
    k.cmdq.issue(cmds);
    atcFlushStreams(k, child.streams, null, 0, 0);
    return;
  }
  const ssid = req.pasid ?? 0;
  if (req.all) {
    k.cmdq.issue([...child.streams].map((s) => [OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }] as Cmd));
  }
  // The ASID, granule and input size of that context, read from the guest's CD as the kernel sees it.
  const cd = child.guestCd(ssid);
  const whole: Cmd = cd !== null && cd.fields.V === 1 ? [OP.TLBI_NH_ASID, { VMID: vmid, ASID: cd.fields.ASID }] : [OP.TLBI_NH_ALL, { VMID: vmid }];
  if (req.all || whole[0] !== OP.TLBI_NH_ASID) {
    k.cmdq.issue([whole]);
    atcFlushStreams(k, child.streams, req.pasid ?? null, 0, 0);
    return;
  }
  const g = tgDecode(cd!.fields.TG0) ?? 4096;
  const geo = stage1FromTcr(g, cd!.fields.T0SZ);
  const r = geo ? invRange(req.iova, req.size, g, geo.ias) : null;
  if (!r) {
    k.cmdq.issue([whole]);
    atcFlushStreams(k, child.streams, req.pasid ?? null, 0, 0);
    return;
  }
  k.cmdq.issue(tlbiRange(OP.TLBI_NH_VA, { VMID: vmid, ASID: cd!.fields.ASID }, r.iova, r.size, granuleShift(g), k.caps.rangeInvalidation, whole));
  atcFlushStreams(k, child.streams, req.pasid ?? null, r.iova, r.size);
}

/**
 * After a stage 2 change (unmap, INVALIDATE_CACHE): TLBI_S2_IPA for the range, TLBI_S12_VMALL
 * for each PASID-table child's VMID (its combined entries hold no IPA to invalidate by); then the
 * ATCs. A null range means everything.
 */
export function flushParent(k: SmmuKernel, d: S2Domain, r: InvRange | null): void {
  const cmds: Cmd[] = [];
  const whole: Cmd = [OP.TLBI_S12_VMALL, { VMID: d.vmid }];
  const gshift = granuleShift(d.fmt.granule);
  if (!r) cmds.push(whole);
  else {
    cmds.push(...tlbiRange(OP.TLBI_S2_IPA, { VMID: d.vmid }, r.iova, r.size, gshift, k.caps.rangeInvalidation, whole));
  }
  for (const c of d.children) cmds.push([OP.TLBI_S12_VMALL, { VMID: c.vmid }]);
  if (d.s1) {
    // The stage 1 copy: stage 1 STEs tag its entries with VMID 0 and its ASID.
    const base = { VMID: 0, ASID: d.s1.asid };
    const all: Cmd = [OP.TLBI_NH_ASID, base];
    if (!r) cmds.push(all);
    else cmds.push(...tlbiRange(OP.TLBI_NH_VA, base, r.iova, r.size, gshift, k.caps.rangeInvalidation, all));
  }
  k.cmdq.issue(cmds);
  const atc: Cmd[] = [];
  for (const s of k.streams.values()) {
    if (!streamUses(s, d) || !k.unit.endpoints.peek(s.sid)?.atsEnabled) continue;
    const s2only = s.ste !== null && getField(s.ste, 0, STE.Config) !== STE_CONFIG_NESTED;
    atc.push(s2only && r ? atcInv(s.sid, null, r.iova, r.size) : atcInv(s.sid, null, 0, 0));
  }
  if (atc.length) k.cmdq.issue(atc);
}

export function retirePasidTable(k: SmmuKernel, child: PasidTableDomain): void {
  child.parent.children.delete(child);
  retireVmid(k, child.vmid);
}

/** An ASID of the kernel's stage 1 (VMID 0) leaves use. */
export function retireAsid(k: SmmuKernel, asid: number): void {
  k.cmdq.issue([[OP.TLBI_NH_ASID, { VMID: 0, ASID: asid }]]);
  k.asids.free(asid);
}

/** A VMID leaves use: TLBI_S12_VMALL so a later owner finds no stale entry. */
export function retireVmid(k: SmmuKernel, vmid: number): void {
  k.cmdq.issue([[OP.TLBI_S12_VMALL, { VMID: vmid }]]);
  k.vmids.free(vmid);
}
