import { fail } from './errors.js';
import { u64 } from './args.js';
import type { DeviceDesc, PageResponseCode } from '../driver/driver.js';
import type { IoasidInfo } from './info.js';
import type { IoasidFd } from './ioasid-fd.js';
import type { Machine } from '../machine.js';

export interface DmaOptions {
  /** PASID the request carries (a vPASID for an mdev; the wire PASID for a pdev). */
  pasid?: number;
  privileged?: boolean;
}

/** A PAGE_RESPONSE as it reached the device. */
export interface DevicePageResponse {
  pasid?: number;
  iova: bigint;
  code: PageResponseCode;
}

/** A VFIO-like device: a physical function (pdev) or a mediated device riding on its parent's RID (mdev). */
export class Device {
  fd: IoasidFd | undefined;
  label = '';
  /** Page responses that came back to this device, oldest first. */
  readonly pageResponses: DevicePageResponse[] = [];

  constructor(
    readonly machine: Machine,
    readonly desc: DeviceDesc,
  ) {}

  get name(): string {
    return this.desc.name;
  }
  get rid(): number {
    return this.desc.rid;
  }
  get kind(): 'pdev' | 'mdev' {
    return this.desc.kind;
  }
  get group(): number {
    return this.desc.group;
  }

  /** BIND_IOASID_FD: connect this device to an fd under a label. */
  bindIoasidFd(fd: IoasidFd, options: { label?: string } = {}): void {
    if (this.fd === fd) fail('EBUSY', `device ${this.name} is already bound to this IOASID fd`);
    if (this.fd) fail('EBUSY', `device ${this.name} is bound to another IOASID fd`);
    if (fd.closed) fail('EINVAL', 'fd is closed');
    const label = options.label ?? this.name;
    if (typeof label !== 'string' || label.length === 0) fail('EINVAL', 'label must be a non-empty string');
    fd.bindDevice(this, label);
  }

  unbindIoasidFd(): void {
    if (!this.fd) fail('EINVAL', `device ${this.name} is not bound to an IOASID fd`);
    this.fd.unbindDevice(this);
  }

  attachIoasid(ioasid: number, options: { userPasid?: number } = {}): void {
    if (!this.fd) fail('EINVAL', `device ${this.name} is not bound to an IOASID fd (BIND_IOASID_FD first)`);
    this.fd.attachDevice(this, ioasid, options.userPasid);
  }

  detachIoasid(ioasid: number, options: { userPasid?: number } = {}): void {
    if (!this.fd) fail('EINVAL', `device ${this.name} is not bound to an IOASID fd`);
    this.fd.detachDevice(this, ioasid, options.userPasid);
  }

  /**
   * Device reset (VFIO_DEVICE_RESET): clears a sticky error state the IOMMU holds for it, such as
   * a POWER PE frozen by EEH after a DMA error.
   */
  reset(): void {
    this.machine.driver.resetDevice?.(this.desc);
  }

  /** Per-device GET_INFO, before any IOASID exists. */
  getInfo(): IoasidInfo {
    return this.machine.driver.capabilities(this.desc);
  }

  dmaWrite(iova: bigint, bytes: Uint8Array, options: DmaOptions = {}): void {
    u64(iova, 'iova');
    const wire = this.wire(options.pasid);
    this.machine.dma(this, wire.rid, wire.pasid, iova, bytes, true, options.privileged ?? false);
  }

  dmaRead(iova: bigint, length: number, options: DmaOptions = {}): Uint8Array {
    u64(iova, 'iova');
    if (!Number.isInteger(length) || length < 0) fail('EINVAL', `length must be a non-negative integer (got ${length})`);
    const out = new Uint8Array(length);
    const wire = this.wire(options.pasid);
    this.machine.dma(this, wire.rid, wire.pasid, iova, out, false, options.privileged ?? false);
    return out;
  }

  /** The RID and PASID this device puts on the bus for a request tagged `pasid`. */
  wire(pasid: number | undefined): { rid: number; pasid: number } {
    if (pasid !== undefined && (!Number.isInteger(pasid) || pasid < 0 || pasid >= 1 << 20)) {
      fail('EINVAL', `pasid must be an integer in [0, 2^20) (got ${pasid})`);
    }
    if (this.kind === 'pdev') return { rid: this.rid, pasid: pasid ?? -1 };
    // An mdev tags every request with a host PASID its driver chose at attach time.
    const host = this.fd?.mdevHostPasid(this, pasid);
    if (host === undefined) {
      fail('EINVAL', `mdev ${this.name} has no ${pasid === undefined ? 'default address space' : `vPASID ${pasid}`} attached, so it cannot issue the DMA`);
    }
    return { rid: this.rid, pasid: host };
  }

  /** Page response delivered to the device. */
  receivePageResponse(r: DevicePageResponse): void {
    this.pageResponses.push(r);
  }
}

