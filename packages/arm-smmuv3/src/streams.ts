import { fail, type DeviceDesc } from '@ioasid/core';
import { SmmuMaster } from './master.js';
import type { ProbedUnit } from './probe.js';

/**
 * The kernel's StreamIDs (Linux arm_smmu_probe_device / arm_smmu_release_device): one
 * SmmuMaster per probed RID, shared by the devices behind it, with its STE kept installed.
 */
export class Streams {
  private readonly bySid = new Map<number, SmmuMaster>();

  constructor(private readonly k: ProbedUnit) {}

  get(dev: DeviceDesc): SmmuMaster | undefined {
    return this.bySid.get(dev.rid);
  }

  must(dev: DeviceDesc): SmmuMaster {
    const s = this.get(dev);
    if (!s) fail('EINVAL', `device ${dev.name} (RID 0x${dev.rid.toString(16)}) is not probed`);
    return s;
  }

  probeDevice(dev: DeviceDesc): void {
    let s = this.bySid.get(dev.rid);
    if (!s) {
      this.k.strtab.ensure(dev.rid);
      s = new SmmuMaster(this.k, dev.rid);
      this.bySid.set(dev.rid, s);
      s.devices.add(dev);
      s.installSte();
      return;
    }
    s.devices.add(dev);
  }

  releaseDevice(dev: DeviceDesc): void {
    const s = this.get(dev);
    if (!s) return;
    s.devices.delete(dev);
    if (s.devices.size > 0) return;
    if (s.rid?.protocol === 'user-pasid-table') s.rid.streams.delete(s);
    s.rid = null;
    s.kpasids.clear();
    s.installSte();
    s.releaseHcd();
    this.bySid.delete(s.sid);
  }

  values(): IterableIterator<SmmuMaster> {
    return this.bySid.values();
  }

  /** The StreamIDs the driver manages. */
  ids(): number[] {
    return [...this.bySid.keys()];
  }
}
