import { fail } from './errors.js';
import { u64 } from './args.js';
import type { Machine } from '../machine.js';
import type { IoasidFd } from './ioasid-fd.js';
import type { Device } from './device.js';

/** An ENQCMD work descriptor, reduced to the DMA write it asks the device to do. */
export interface EnqcmdDescriptor {
  iova: bigint;
  data: Uint8Array;
}

/** KVM's part: the CPU's guest-PASID → host-PASID translation that ENQCMD in a guest goes through. */
export class Kvm {
  private readonly table = new Map<number, { fd: IoasidFd; ioasid: number; hostPasid: number }>();

  constructor(private readonly machine: Machine) {}

  get hasMappings(): boolean {
    return this.table.size > 0;
  }

  mapPasid(args: { guestPasid: number; fd: IoasidFd; ioasid: number }): void {
    const { guestPasid, fd, ioasid } = args ?? ({} as never);
    if (!Number.isInteger(guestPasid) || guestPasid < 0 || guestPasid >= 1 << 20) {
      fail('EINVAL', `guestPasid must be an integer in [0, 2^20) (got ${String(guestPasid)})`);
    }
    if (!fd || fd.machine !== this.machine) fail('EBADF', 'fd is not an IOASID fd of this machine');
    fd.ioasidObject(ioasid);
    if (this.table.has(guestPasid)) fail('EEXIST', `guestPasid ${guestPasid} is already translated`);
    if (![...fd.devices].some((d) => this.machine.driver.capabilities(d.desc).enqcmd)) {
      fail('EOPNOTSUPP', 'no device bound to this fd accepts ENQCMD, so there is no guest PASID to translate');
    }
    const pdev = this.machine.deviceList.find(
      (d) => d.kind === 'pdev' && d.desc.enqcmd && d.fd && d.fd.attachmentsOf(d).some((a) => a.userPasid !== undefined),
    );
    if (pdev) fail('EBUSY', `pdev ${pdev.name} already uses vPASIDs on the wire; exposing ENQCMD on mdevs of the same VM is refused`);
    const hostPasid = fd.getGlobalPasid(ioasid);
    this.table.set(guestPasid, { fd, ioasid, hostPasid });
  }

  unmapPasid(guestPasid: number): void {
    const e = this.table.get(guestPasid);
    if (!e) fail('ENOENT', `guestPasid ${String(guestPasid)} is not translated`);
    this.table.delete(guestPasid);
    e.fd.putGlobalPasid(e.ioasid);
  }

  /** Host PASID the CPU substitutes for `guestPasid` (the VMCS PASID translation table). */
  translate(guestPasid: number): number | undefined {
    return this.table.get(guestPasid)?.hostPasid;
  }

  forgetIoasid(fd: IoasidFd, ioasid: number): void {
    for (const [g, e] of this.table) if (e.fd === fd && e.ioasid === ioasid) this.table.delete(g);
  }

  /**
   * ENQCMD from the guest: the CPU translates the guest PASID and the device performs the
   * descriptor's write tagged with the host PASID. Without a translation the CPU faults (#GP).
   */
  enqcmd(device: Device, guestPasid: number, descriptor: EnqcmdDescriptor): void {
    if (!device.desc.enqcmd) fail('EOPNOTSUPP', `device ${device.name} does not accept ENQCMD`);
    const host = this.translate(guestPasid);
    if (host === undefined) fail('EPERM', `ENQCMD with guest PASID ${guestPasid} raised #GP: KVM has no translation for it`);
    const iova = u64(descriptor.iova, 'descriptor.iova');
    const data = descriptor.data;
    this.machine.dma(device, device.rid, host, iova, data, true, false);
  }
}
