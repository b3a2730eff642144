import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { DeviceDesc, DmaRequest, IommuDriver, PageResponseCode } from '../driver/driver.js';
import { WalkTracer, type WalkTrace } from '../hw/walk-trace.js';
import type { IoasidInfo } from '../base/info.js';
import { IoasidFd } from './ioasid-fd.js';
import { DeviceRoutes } from './device-routes.js';
import type { Attachment, FdDevice } from './ioasid.js';
import { copyOut, optionalBool, optionsArg, pasidArg, show } from './validate.js';
import { topologyOf } from '../rules/groups.js';

export interface DmaOptions {
  /** PASID the request carries (a vPASID for an mdev; the wire PASID for a pdev). */
  pasid?: number;
  privileged?: boolean;
}

/**
 * Largest single DMA (`dmaRead` length, `dmaWrite` bytes): 1 GiB. A device moves at most this
 * much in one call; a larger transfer is several calls, as a real device splits it into TLPs.
 */
export const MAX_DMA_LENGTH = 1 << 30;

/** A PAGE_RESPONSE as it reached the device. */
export interface DevicePageResponse {
  pasid?: number;
  iova: bigint;
  code: PageResponseCode;
}

/** The machine as its devices (and the CPU's ENQCMD) see it. */
export interface DeviceHost {
  readonly driver: IommuDriver;
  readonly deviceList: readonly Device[];
  /** The open IOASID fds. */
  readonly fds: { has(fd: unknown): boolean };
  /** A DMA on the bus, translated page by page by the IOMMU (DmaFault when blocked). */
  dma(dev: Device, rid: number, pasid: number, iova: bigint, buf: Uint8Array, write: boolean, privileged: boolean): void;
}

/** A VFIO-like device: a physical function (pdev) or a mediated device riding on its parent's RID (mdev). */
export class Device implements FdDevice {
  fd: IoasidFd | undefined;
  label = '';
  /** Page responses that came back to this device, oldest first. */
  readonly pageResponses: DevicePageResponse[] = [];
  /** This device's attachments, indexed by route (kept by the fd it is bound to). */
  readonly routes = new DeviceRoutes<Attachment>();

  constructor(
    readonly machine: DeviceHost,
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

  /**
   * BIND_IOASID_FD: connect this device to an fd under a label. Topology: every
   * device of an IOMMU group binds to the same fd, and an mdev and its parent are never bound
   * at the same time (EBUSY).
   */
  bindIoasidFd(fd: IoasidFd, options: { label?: string } = {}): void {
    this.checkFd(fd);
    const o = optionsArg(options, 'options', ['label']);
    const label = 'label' in o ? o.label : this.name;
    if (typeof label !== 'string' || label.length === 0) fail('EINVAL', `options.label must be a non-empty string (got ${show(label)})`);
    if (this.fd === fd) fail('EBUSY', `device ${this.name} is already bound to this IOASID fd`);
    if (this.fd) fail('EBUSY', `device ${this.name} is bound to another IOASID fd`);
    topologyOf(this.machine).checkBind(this, fd);
    fd.bindDevice(this, label);
  }

  /** `fd` must be an open IOASID fd of this machine. */
  private checkFd(fd: unknown): asserts fd is IoasidFd {
    if (this.machine.fds.has(fd)) return;
    let closedHere = false;
    try {
      closedHere = fd instanceof IoasidFd && (fd.machine as object) === this.machine && fd.closed;
    } catch {
      closedHere = false;
    }
    if (closedHere) fail('EINVAL', 'fd is closed');
    fail('EINVAL', `fd must be an open IOASID fd of this machine (from machine.openIoasidFd()), got ${show(fd)}`);
  }

  unbindIoasidFd(): void {
    if (!this.fd) fail('EINVAL', `device ${this.name} is not bound to an IOASID fd`);
    this.fd.unbindDevice(this);
  }

  private boundFd(): IoasidFd {
    if (!this.fd) fail('EINVAL', `device ${this.name} is not bound to an IOASID fd (BIND_IOASID_FD first)`);
    return this.fd;
  }

  /** ATTACH_IOASID. Order of checks (§9): the IOASID (EINVAL if malformed, ENOENT), then options. */
  attachIoasid(ioasid: number, options: { userPasid?: number } = {}): void {
    const fd = this.boundFd();
    fd.ioasidObject(ioasid);
    const o = optionsArg(options, 'options', ['userPasid']);
    fd.attachDevice(this, ioasid, o.userPasid === undefined ? undefined : pasidArg(o.userPasid, 'userPasid'));
  }

  detachIoasid(ioasid: number, options: { userPasid?: number } = {}): void {
    const fd = this.boundFd();
    fd.ioasidObject(ioasid);
    const o = optionsArg(options, 'options', ['userPasid']);
    fd.detachDevice(this, ioasid, o.userPasid === undefined ? undefined : pasidArg(o.userPasid, 'userPasid'));
  }

  /**
   * Device reset (VFIO_DEVICE_RESET): clears a sticky error state the IOMMU holds for it, such as
   * a POWER PE frozen by EEH after a DMA error.
   */
  reset(): void {
    this.machine.driver.resetDevice?.(this.desc);
  }

  /** Per-device GET_INFO, before any IOASID exists (a copy the caller owns). */
  getInfo(): IoasidInfo {
    const caps = this.machine.driver.capabilities(this.desc);
    return copyOut({ ...caps, dirtyTracking: caps.dirtyTracking === true });
  }

  dmaWrite(iova: bigint, bytes: Uint8Array, options: DmaOptions = {}): void {
    u64(iova, 'iova');
    if (!isUint8Array(bytes)) fail('EINVAL', `bytes must be a Uint8Array (got ${show(bytes)})`);
    const { wire, privileged } = this.request(iova, bytes.length, 'bytes.length', options);
    this.machine.dma(this, wire.rid, wire.pasid, iova, bytes, true, privileged);
  }

  dmaRead(iova: bigint, length: number, options: DmaOptions = {}): Uint8Array {
    u64(iova, 'iova');
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      fail('EINVAL', `length must be a non-negative integer (got ${show(length)})`);
    }
    const { wire, privileged } = this.request(iova, length, 'length', options);
    const out = new Uint8Array(length);
    this.machine.dma(this, wire.rid, wire.pasid, iova, out, false, privileged);
    return out;
  }

  /**
   * The IOMMU hardware's walk of the request this device would send for one byte at `iova`,
   * recorded read by read, with no side effect (no cache filled, no fault recorded); with
   * `caches`, the caches the DMA would consult are probed first. Undefined when the unit does
   * not trace.
   */
  traceDma(iova: bigint, options: DmaOptions & { write?: boolean; caches?: boolean } = {}): WalkTrace | undefined {
    u64(iova, 'iova');
    const o = optionsArg(options, 'options', ['pasid', 'privileged', 'write', 'caches']);
    const write = optionalBool(o.write, 'options.write') ?? false;
    const caches = optionalBool(o.caches, 'options.caches') ?? false;
    const { wire, privileged } = this.request(iova, 1, 'length', { ...(o.pasid !== undefined ? { pasid: o.pasid } : {}), ...(o.privileged !== undefined ? { privileged: o.privileged } : {}) });
    const unit = this.machine.driver.unit;
    if (typeof unit.walk !== 'function') return undefined;
    const tracer = new WalkTracer();
    const req: DmaRequest = { rid: wire.rid, pasid: wire.pasid, iovaFrame: Number(iova >> 12n), write, privileged };
    return tracer.finish(unit.walk(req, tracer, { caches }), Number(iova & 0xfffn));
  }

  /** Validates the rest of a DMA: its length, its end, its options; returns what goes on the bus. */
  private request(iova: bigint, length: number, what: string, options: unknown): { wire: { rid: number; pasid: number }; privileged: boolean } {
    if (length > MAX_DMA_LENGTH) fail('EINVAL', `${what} ${length} exceeds the largest single DMA (${hex(MAX_DMA_LENGTH)} bytes, 1 GiB)`);
    // A transfer running past 2^64 is not refused here: it goes on the bus page by page, and the
    // IOMMU blocks it (no address space reaches that high), as the hardware would.
    const o = optionsArg(options, 'options', ['pasid', 'privileged']);
    const privileged = optionalBool(o.privileged, 'options.privileged') ?? false;
    return { wire: this.wire(o.pasid as number | undefined), privileged };
  }

  /**
   * The RID and PASID this device puts on the bus for a request tagged `pasid`. A pdev can put
   * any PASID on the wire (nothing in the device stops it): isolation comes from the IOMMU's
   * tables, which hold under its RID only the routes this device was given. An mdev tags every
   * request with a host PASID its driver chose at attach time, never one of its own choosing.
   */
  wire(pasid: number | undefined): { rid: number; pasid: number } {
    if (pasid !== undefined) pasidArg(pasid, 'pasid');
    if (this.kind === 'pdev') return { rid: this.rid, pasid: pasid ?? -1 };
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

/** A Uint8Array (or subclass, such as a Node Buffer); never throws, whatever `v` is. */
export function isUint8Array(v: unknown): v is Uint8Array {
  try {
    return ArrayBuffer.isView(v) && v instanceof Uint8Array;
  } catch {
    return false;
  }
}
