import { OP } from './tables/commands.js';
import type { BoundCdTable, SmmuPasidTableDomain as PasidTableDomain } from './domain-types.js';
import { atcFlushStreams } from './cache-maintenance.js';
import type { SmmuKernel } from './kernel-context.js';

// Binding a nesting child to the guest's CD table (BIND_PASID_TABLE): the STEs that point at it,
// and on a rebind the invalidation of what the old one left cached.

export function bindPasidTable(k: SmmuKernel, child: PasidTableDomain, b: BoundCdTable): void {
  const rebind = child.bound !== null;
  child.bound = b;
  for (const s of child.streams) s.installSte();
  if (rebind) {
    k.cmdq.issue([[OP.TLBI_NH_ALL, { VMID: child.vmid }]]);
    atcFlushStreams(k, child.streams, null, 0, 0);
  }
}
