import { fail } from '../uapi/errors.js';
import type { Device } from '../uapi/device.js';
import type { IoasidObject } from '../uapi/ioasid.js';

/**
 * The group rule: devices of one IOMMU group can only be isolated together, so an IOASID refuses
 * commands while some but not all pdevs of a group are attached to it (RID-level).
 */
export function checkGroups(o: IoasidObject, devices: readonly Device[]): void {
  const groups = new Set<number>();
  for (const a of o.attachments) if (a.device.kind === 'pdev' && a.userPasid === undefined) groups.add(a.device.group);
  for (const g of groups) {
    const missing = devices.filter(
      (d) => d.kind === 'pdev' && d.group === g && !o.attachments.some((a) => a.device === d && a.userPasid === undefined),
    );
    if (missing.length > 0) {
      fail('EPERM', `IOMMU group ${g} is only partly attached to IOASID ${o.id}: attach ${missing.map((d) => d.name).join(', ')} too`);
    }
  }
}
