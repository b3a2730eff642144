import type { DeviceDesc, IommuDomain } from '@ioasid/core';
import { OP } from './tables/commands.js';
import { atcInv, type Cmd } from './invalidation.js';
import { S2Domain } from './domain-s2.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import type { StreamState } from './stream-state.js';
import { installSte } from './stream-ste.js';
import { ensureHcd, releaseHcd, releaseKcd } from './stream-cd-tables.js';
import type { SmmuKernel } from './kernel-context.js';

// Attach and detach of kernel-managed (stage 2) spaces, at the StreamID or at a SubstreamID.

/**
 * Attach of a kernel-managed space: at the StreamID (stage 2 STE, or CD 0 of a stage 1 STE when
 * the stream's PASIDs use CDs), or at a SubstreamID (a CD pointing at the space's stage 1 copy).
 * Everything that can fail (allocations) happens before anything visible changes.
 */
export function attachKernel(k: SmmuKernel, d: S2Domain, dev: DeviceDesc, pasid: number | undefined): void {
  const s = k.streams.must(dev);
  const rid = pasid === undefined ? d : s.rid instanceof S2Domain ? s.rid : null;
  const needCds = pasid !== undefined || s.kpasids.size > 0;
  if (needCds) {
    const hadHcd = s.hcd !== null;
    const madeS1 = [d, rid].filter((x): x is S2Domain => !!x && !x.s1);
    const leaves: number[] = [];
    try {
      const hcd = ensureHcd(k.host, k.caps, s);
      for (const x of madeS1) x.ensureS1();
      for (const ssid of pasid !== undefined ? [pasid, ...(rid ? [0] : [])] : [0]) if (hcd.reserve(ssid)) leaves.push(ssid);
    } catch (e) {
      for (const x of madeS1) x.dropUnusedS1();
      if (!hadHcd && s.hcd) {
        s.hcd.destroy();
        s.hcd = null;
      } else for (const ssid of leaves) s.hcd?.dropLeaf(ssid);
      throw e;
    }
    const hcd = s.hcd!;
    const cmds: Cmd[] = [];
    if (pasid !== undefined) {
      hcd.write(pasid, d.s1Cd());
      cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: pasid, LEAF: 1 }]);
    }
    if (rid) {
      hcd.write(0, rid.s1Cd());
      cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: 0, LEAF: 1 }]);
    }
    k.cmdq.issue(cmds);
  }
  if (pasid === undefined) s.rid = d;
  else s.kpasids.set(pasid, d);
  installSte(k, s);
}

export function detachKernel(k: SmmuKernel, d: S2Domain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
  if (pasid === undefined) {
    detachParent(k, d, dev, restoring);
    return;
  }
  const s = k.streams.must(dev);
  if (s.kpasids.get(pasid) !== d) return;
  s.kpasids.delete(pasid);
  installSte(k, s);
  if (s.hcd) {
    s.hcd.clear(pasid);
    k.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: pasid, LEAF: 1 }]]);
    if (k.unit.endpoints.peek(s.sid)?.atsEnabled) k.cmdq.issue([atcInv(s.sid, pasid, 0, 0)]);
  }
  releaseHcd(s);
}

/** The route of the StreamID after a detach: back to the domain underneath, or blocked. */
export function restoredRoute(restoring: IommuDomain | undefined): StreamState['rid'] {
  return restoring instanceof S2Domain || restoring instanceof UserPgtableDomain || restoring instanceof PasidTableDomain ? restoring : null;
}

export function detachParent(k: SmmuKernel, d: S2Domain, dev: DeviceDesc, restoring?: IommuDomain): void {
  const s = k.streams.must(dev);
  if (s.rid !== d) return;
  const next = restoredRoute(restoring);
  if (s.kpasids.size > 0 && s.hcd) {
    // CD 0 follows the StreamID's space (or is cleared: S1DSS then terminates).
    if (next instanceof S2Domain) {
      next.ensureS1();
      s.hcd.write(0, next.s1Cd());
    } else s.hcd.clear(0);
    k.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: 0, LEAF: 1 }]]);
  }
  s.rid = next;
  installSte(k, s);
  releaseKcd(s);
}
