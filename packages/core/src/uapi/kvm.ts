import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { IoasidFd } from './ioasid-fd.js';
import { isUint8Array, MAX_DMA_LENGTH, type Device, type DeviceHost } from './device.js';
import { topologyOf } from '../rules/groups.js';
import { argObject, onlyKeys, pasidArg, show } from './validate.js';

/** An ENQCMD work descriptor, reduced to the DMA write it asks the device to do. */
export interface EnqcmdDescriptor {
  iova: bigint;
  data: Uint8Array;
}

interface Translation {
  fd: IoasidFd;
  ioasid: number;
  hostPasid: number;
}

/** KVM's part: the CPU's guest-PASID → host-PASID translation that ENQCMD in a guest goes through. */
export class Kvm {
  private readonly table = new Map<number, Translation>();
  /** The guest PASIDs translated to each IOASID, so FREE forgets them without a scan. */
  private readonly byIoasid = new Map<IoasidFd, Map<number, Set<number>>>();

  constructor(private readonly machine: DeviceHost) {}

  get hasMappings(): boolean {
    return this.table.size > 0;
  }

  mapPasid(args: { guestPasid: number; fd: IoasidFd; ioasid: number }): void {
    const a = argObject(args, 'KVM_MAP_PASID arguments');
    onlyKeys(a, ['guestPasid', 'fd', 'ioasid'], 'KVM_MAP_PASID');
    const guestPasid = pasidArg(a.guestPasid, 'guestPasid');
    const fd = a.fd as IoasidFd;
    if (!this.machine.fds.has(fd)) fail('EBADF', `fd is not an open IOASID fd of this machine (got ${show(a.fd)})`);
    const ioasid = a.ioasid as number;
    fd.ioasidObject(ioasid);
    if (this.table.has(guestPasid)) fail('EEXIST', `guestPasid ${guestPasid} is already translated`);
    if (![...fd.devices].some((d) => this.machine.driver.capabilities(d.desc).enqcmd)) {
      fail('EOPNOTSUPP', 'no device bound to this fd accepts ENQCMD, so there is no guest PASID to translate');
    }
    const pdev = this.machine.deviceList.find((d) => d.kind === 'pdev' && d.desc.enqcmd && d.fd !== undefined && d.routes.usesUserPasid);
    if (pdev) fail('EBUSY', `pdev ${pdev.name} already uses vPASIDs on the wire; exposing ENQCMD on mdevs of the same VM is refused`);
    const hostPasid = fd.getGlobalPasid(ioasid);
    this.table.set(guestPasid, { fd, ioasid, hostPasid });
    let perFd = this.byIoasid.get(fd);
    if (!perFd) this.byIoasid.set(fd, (perFd = new Map()));
    let set = perFd.get(ioasid);
    if (!set) perFd.set(ioasid, (set = new Set()));
    set.add(guestPasid);
  }

  unmapPasid(guestPasid: number): void {
    const e = typeof guestPasid === 'number' ? this.table.get(guestPasid) : undefined;
    if (!e) fail('ENOENT', `guestPasid ${show(guestPasid)} is not translated`);
    this.drop(guestPasid, e);
    e.fd.putGlobalPasid(e.ioasid);
  }

  private drop(guestPasid: number, e: Translation): void {
    this.table.delete(guestPasid);
    const perFd = this.byIoasid.get(e.fd);
    const set = perFd?.get(e.ioasid);
    set?.delete(guestPasid);
    if (perFd && set?.size === 0) perFd.delete(e.ioasid);
    if (perFd?.size === 0) this.byIoasid.delete(e.fd);
  }

  /** Host PASID the CPU substitutes for `guestPasid` (the VMCS PASID translation table). */
  translate(guestPasid: number): number | undefined {
    return this.table.get(guestPasid)?.hostPasid;
  }

  /** The IOASID is being destroyed: its translations go (its global PASID is freed with it). */
  forgetIoasid(fd: IoasidFd, ioasid: number): void {
    const set = this.byIoasid.get(fd)?.get(ioasid);
    if (!set) return;
    for (const g of [...set]) {
      const e = this.table.get(g);
      if (e) this.drop(g, e);
    }
  }

  /**
   * ENQCMD from the guest: the CPU translates the guest PASID and the device performs the
   * descriptor's write tagged with the host PASID. Without a translation the CPU faults (#GP).
   * A device only ever uses a host PASID it was given: the translation must lead to an address
   * space this device is attached to (else EPERM, and nothing reaches the bus).
   */
  enqcmd(device: Device, guestPasid: number, descriptor: EnqcmdDescriptor): void {
    if (!topologyOf(this.machine).has(device)) fail('EINVAL', `device must be a device of this machine (got ${show(device)})`);
    if (!device.desc.enqcmd) fail('EOPNOTSUPP', `device ${device.name} does not accept ENQCMD`);
    pasidArg(guestPasid, 'guestPasid');
    const d = argObject(descriptor, 'descriptor');
    onlyKeys(d, ['iova', 'data'], 'descriptor');
    const iova = u64(d.iova, 'descriptor.iova');
    const data = d.data;
    if (!isUint8Array(data)) fail('EINVAL', `descriptor.data must be a Uint8Array (got ${show(data)})`);
    if (data.length > MAX_DMA_LENGTH) fail('EINVAL', `descriptor.data is larger than the largest single DMA (${hex(MAX_DMA_LENGTH)} bytes)`);
    const e = this.table.get(guestPasid);
    if (!e) fail('EPERM', `ENQCMD with guest PASID ${guestPasid} raised #GP: KVM has no translation for it`);
    if (device.fd !== e.fd || !device.routes.onWire(e.hostPasid)) {
      fail('EPERM', `ENQCMD with guest PASID ${guestPasid}: its host PASID ${e.hostPasid} (IOASID ${e.ioasid}) was not given to ${device.name}, which is not attached there`);
    }
    this.machine.dma(device, device.rid, e.hostPasid, iova, data, true, false);
  }
}
