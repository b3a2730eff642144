import type { DeviceDesc, IommuDomain } from '@ioasid/core';
import { OP } from './tables/commands.js';
import { atcInv, type Cmd } from './invalidation.js';
import type { UserPgtableDomain } from './domain-user-pgtable.js';
import type { PasidTableDomain } from './domain-pasid-table.js';
import type { StreamState } from './stream-state.js';
import { installSte } from './stream-ste.js';
import { ensureKcd, releaseKcd } from './stream-cd-tables.js';
import { restoredRoute } from './attach-kernel.js';
import type { SmmuKernel } from './kernel-context.js';

// Attach and detach of nesting children: a user stage 1 table (a CD in the stream's kernel CD
// table, nested STE) or a guest CD table (the STE points at it through the parent's stage 2).

/** The SubstreamIDs through which the stream reaches `child` (created on first use). */
function ssids(child: UserPgtableDomain, s: StreamState): Set<number> {
  let set = child.attachments.get(s);
  if (!set) {
    set = new Set();
    child.attachments.set(s, set);
  }
  return set;
}

export function attachUserPgtable(k: SmmuKernel, child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined): void {
  const s = k.streams.must(dev);
  const ssid = pasid ?? 0;
  if (child.bound) {
    const hadKcd = s.kcd !== null;
    const kcd = ensureKcd(k.caps, s);
    try {
      kcd.write(ssid, child.cd());
    } catch (e) {
      if (!hadKcd) {
        kcd.destroy();
        s.kcd = null;
        s.kcdParent = null;
      }
      throw e;
    }
    k.cmdq.issue([[OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]]);
  }
  if (pasid === undefined) s.rid = child;
  else s.pasids.set(pasid, child);
  ssids(child, s).add(ssid);
  installSte(k, s);
}

export function detachUserPgtable(k: SmmuKernel, child: UserPgtableDomain, dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
  const s = k.streams.must(dev);
  const ssid = pasid ?? 0;
  if (pasid === undefined) {
    if (s.rid === child) s.rid = restoredRoute(restoring);
  } else if (s.pasids.get(pasid) === child) s.pasids.delete(pasid);
  const set = child.attachments.get(s);
  set?.delete(ssid);
  if (set?.size === 0) child.attachments.delete(s);
  installSte(k, s);
  if (s.kcd) {
    s.kcd.clear(ssid);
    const cmds: Cmd[] = [[OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]];
    k.cmdq.issue(cmds);
    if (k.unit.endpoints.peek(s.sid)?.atsEnabled) k.cmdq.issue([atcInv(s.sid, pasid ?? null, 0, 0)]);
  }
  releaseKcd(s);
}

export function attachPasidTable(k: SmmuKernel, child: PasidTableDomain, dev: DeviceDesc): void {
  const s = k.streams.must(dev);
  s.rid = child;
  child.streams.add(s);
  installSte(k, s);
}

export function detachPasidTable(k: SmmuKernel, child: PasidTableDomain, dev: DeviceDesc, restoring?: IommuDomain): void {
  const s = k.streams.must(dev);
  if (s.rid === child) s.rid = restoredRoute(restoring);
  child.streams.delete(s);
  installSte(k, s);
}
