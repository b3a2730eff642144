import { fail, type DeviceDesc } from '@ioasid/core';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import type { StreamState } from './stream-state.js';
import { installSte } from './stream-ste.js';
import { releaseHcd, releaseKcd } from './stream-cd-tables.js';
import type { ProbedUnit } from './probe.js';

/**
 * The kernel's StreamIDs (Linux arm_smmu_probe_device / arm_smmu_release_device): one
 * StreamState per probed RID, shared by the devices behind it, with its STE kept installed.
 */
export class Streams {
  private readonly bySid = new Map<number, StreamState>();

  constructor(private readonly k: ProbedUnit) {}

  get(dev: DeviceDesc): StreamState | undefined {
    return this.bySid.get(dev.rid);
  }

  must(dev: DeviceDesc): StreamState {
    const s = this.get(dev);
    if (!s) fail('EINVAL', `device ${dev.name} (RID 0x${dev.rid.toString(16)}) is not probed`);
    return s;
  }

  probeDevice(dev: DeviceDesc): void {
    let s = this.bySid.get(dev.rid);
    if (!s) {
      this.k.strtab.ensure(dev.rid);
      s = { sid: dev.rid, devices: new Set(), rid: null, pasids: new Map(), kpasids: new Map(), hcd: null, kcd: null, kcdParent: null, ste: null };
      this.bySid.set(dev.rid, s);
      s.devices.add(dev);
      installSte(this.k, s);
      return;
    }
    s.devices.add(dev);
  }

  releaseDevice(dev: DeviceDesc): void {
    const s = this.get(dev);
    if (!s) return;
    s.devices.delete(dev);
    if (s.devices.size > 0) return;
    if (s.rid instanceof PasidTableDomain) s.rid.streams.delete(s);
    else if (s.rid instanceof UserPgtableDomain) s.rid.attachments.delete(s);
    for (const c of s.pasids.values()) c.attachments.delete(s);
    s.rid = null;
    s.pasids.clear();
    s.kpasids.clear();
    installSte(this.k, s);
    releaseKcd(s);
    releaseHcd(s);
    this.bySid.delete(s.sid);
  }

  values(): IterableIterator<StreamState> {
    return this.bySid.values();
  }

  /** The StreamIDs the driver manages. */
  ids(): number[] {
    return [...this.bySid.keys()];
  }
}
