import { OP } from './tables/commands.js';
import type { Cmd } from './invalidation.js';
import type { BoundCdTable, BoundS1, SmmuPasidTableDomain as PasidTableDomain, SmmuUserPgtableDomain as UserPgtableDomain } from './domain-types.js';
import type { StreamState } from './domain-types.js';
import { atcFlushChild, atcFlushStreams } from './cache-maintenance.js';
import type { SmmuKernel } from './kernel-context.js';

// Binding a nesting child to the guest's table (BIND_PGTABLE, BIND_PASID_TABLE): the CDs or STEs
// that point at it, and on a rebind the invalidation of what the old one left cached.

export function bindUserPgtable(k: SmmuKernel, child: UserPgtableDomain, b: BoundS1): void {
  // Allocate every kernel CD table and leaf first, so a failure leaves everything as it was.
  const created: StreamState[] = [];
  const reserved: [StreamState, number][] = [];
  try {
    for (const [s, set] of child.attachments) {
      if (!s.kcd) {
        s.ensureKcd();
        created.push(s);
      }
      for (const ssid of set) if (s.kcd!.reserve(ssid)) reserved.push([s, ssid]);
    }
  } catch (e) {
    for (const [s, ssid] of reserved) if (!created.includes(s)) s.kcd!.dropLeaf(ssid);
    for (const s of created) {
      s.kcd!.destroy();
      s.kcd = null;
      s.kcdParent = null;
    }
    throw e;
  }
  const rebind = child.bound !== null;
  child.bound = b;
  const cd = child.cd();
  for (const [s, set] of child.attachments) for (const ssid of set) s.kcd!.write(ssid, cd);
  const cmds: Cmd[] = [];
  for (const [s, set] of child.attachments) for (const ssid of set) cmds.push([OP.CFGI_CD, { SID: s.sid, SSID: ssid, LEAF: 1 }]);
  if (rebind) cmds.push([OP.TLBI_NH_ASID, { VMID: child.vmid, ASID: child.asid }]);
  k.cmdq.issue(cmds);
  for (const s of child.attachments.keys()) s.installSte();
  if (rebind) atcFlushChild(k, child, 0, 0);
}

export function bindPasidTable(k: SmmuKernel, child: PasidTableDomain, b: BoundCdTable): void {
  const rebind = child.bound !== null;
  child.bound = b;
  for (const s of child.streams) s.installSte();
  if (rebind) {
    k.cmdq.issue([[OP.TLBI_NH_ALL, { VMID: child.vmid }]]);
    atcFlushStreams(k, child.streams, null, 0, 0);
  }
}
