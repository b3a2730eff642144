import type { DeviceDesc, IommuDomain } from '@ioasid/core';
import { LINEAR_CDMAX } from './capabilities.js';
import type { SmmuPasidTableDomain as PasidTableDomain, SmmuS2Domain as S2Domain } from './domain-types.js';
import { streamParent } from './master.js';
import type { SmmuKernel } from './kernel-context.js';

// Whether an attach may go ahead (core asks before it changes anything): a reason when not, else null.

const MDEV_REASON = 'SMMUv3 has no mediated devices: an mdev lives on a PASID of its parent, and a PASID cannot reach a stage 2 space (GET_INFO pasidBits is 0)';

export function checkParentAttach(k: SmmuKernel, d: S2Domain, dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
  if (dev.kind === 'mdev') return MDEV_REASON;
  const s = k.streams.get(dev);
  if (!s) return `device ${dev.name} is not probed`;
  if (pasid !== undefined) {
    if (!Number.isInteger(pasid) || pasid < 1 || pasid >= 2 ** k.caps.ssidBits) {
      return `PASID ${pasid} must be in 1..${2 ** k.caps.ssidBits - 1} (SubstreamID 0 carries the non-PASID traffic)`;
    }
    if (!k.caps.cd2l && pasid >= 2 ** LINEAR_CDMAX) return `PASID ${pasid} is beyond the linear CD table (2^${LINEAR_CDMAX})`;
    if (s.rid && s.rid.protocol !== 'map') {
      return 'the StreamID uses a nested (stage 1 + stage 2) STE; a kernel-managed IOASID on a PASID needs a stage 1 STE';
    }
    const cur = s.kpasids.get(pasid);
    if (cur && cur !== d) return `PASID ${pasid} of the device is attached to another IOASID`;
    return null;
  }
  if (s.rid && s.rid !== d && s.rid !== replacing) return `StreamID 0x${s.sid.toString(16)} is already attached to another IOASID`;
  return null;
}

export function checkChildAttach(k: SmmuKernel, child: PasidTableDomain, dev: DeviceDesc, pasid: number | undefined): string | null {
  if (dev.kind === 'mdev') return MDEV_REASON;
  const s = k.streams.get(dev);
  if (!s) return `device ${dev.name} is not probed`;
  if (streamParent(s) !== child.parent) return 'the device must be attached to the parent IOASID first';
  if (s.kpasids.size > 0) return 'PASIDs of the device use kernel-managed IOASIDs (stage 1 STE); nesting needs a stage 1 + stage 2 STE';
  if (pasid !== undefined) return 'a PASID-table IOASID represents the device\'s whole PASID space: attach it without a PASID';
  if (s.rid?.protocol === 'user-pasid-table' && s.rid !== child) return 'the device is already attached to another nesting IOASID';
  return null;
}
