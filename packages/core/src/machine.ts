import { container as rootContainer, type DependencyContainer } from './di.js';
import { DmaFault, fail, type FaultRecord } from './base/errors.js';
import { AllocInjector } from './memory/alloc-injector.js';
import { DEFAULT_HOST_MEMORY, HostMemory, PAGE_SIZE, checkHostMemorySize } from './memory/host-memory.js';
import { VmmMemory, type HugePageSize } from './memory/vmm.js';
import { GuestMemory } from './memory/guest.js';
import type { DeviceDesc, DmaRequest, IommuDriver, IommuUnit, MachineContext, TranslateResult } from './driver/driver.js';
import { readMachineOptions, sizeOption } from './machine-options.js';
import { readDevices } from './machine-devices.js';
import type { DeviceOptions, MachineOptions } from './base/machine-options.js';
import { show } from './uapi/validate.js';
import { MACHINE_CONTEXT } from './driver/tokens.js';
import { Device, type DeviceHost } from './uapi/device.js';
import type { FdHost } from './uapi/fd-context.js';
import { IoasidFd } from './uapi/ioasid-fd.js';
import { Kvm } from './uapi/kvm.js';
import { PASID_LIMIT, PasidAllocator } from './rules/pasid-alloc.js';

const DEFAULT_DEVICES: DeviceOptions[] = [{ name: 'dev0' }, { name: 'dev1' }];

/** A simulated host: memory, one IOMMU of the chosen vendor, devices, a VMM process and its guest. */
export class Machine implements FdHost, DeviceHost {
  readonly injector = new AllocInjector();
  readonly hostMemory: HostMemory;
  readonly vmm: VmmMemory;
  readonly guest: GuestMemory;
  readonly driver: IommuDriver;
  /** Where the bus sends a DMA: the hardware unit when it translates, else the driver (older plugins). */
  private readonly hw: { translate(req: DmaRequest): TranslateResult };
  readonly kvm: Kvm;
  readonly pasids: PasidAllocator;
  readonly memlockLimit: bigint;
  readonly vendor: string;
  private readonly devices = new Map<string, Device>();
  readonly fds = new Set<IoasidFd>();
  readonly container: DependencyContainer;

  constructor(machineOptions: MachineOptions) {
    const { reg, options } = readMachineOptions(machineOptions);
    this.vendor = reg.vendor;
    const descs = readDevices(options.devices ?? DEFAULT_DEVICES);
    this.hostMemory = new HostMemory(this.injector, options.hostMemory === undefined ? DEFAULT_HOST_MEMORY : checkHostMemorySize(options.hostMemory, 'options.hostMemory'));
    this.vmm = new VmmMemory(this.hostMemory);
    this.vmm.pinnedCheck = (vaddr, size) => [...this.fds].some((fd) => fd.pins(vaddr, size));
    const guestSize = sizeOption(options, 'guestMemory', 1n << 30n, (v) => v > 0n && v % BigInt(PAGE_SIZE) === 0n, 'a positive multiple of 4 KiB as a bigint');
    const huge = options.guestHugePages ?? true;
    if (typeof huge !== 'boolean') fail('EINVAL', `options.guestHugePages must be a boolean (got ${show(huge)})`);
    const hugeSize: HugePageSize | undefined = !huge ? undefined : guestSize % (1n << 30n) === 0n ? '1G' : guestSize % (1n << 21n) === 0n ? '2M' : undefined;
    const gva = this.vmm.mmap(guestSize, hugeSize ? { hugePages: hugeSize } : {});
    this.guest = new GuestMemory(this.hostMemory, this.vmm, gva, guestSize);
    this.memlockLimit = sizeOption(options, 'memlockLimit', 1n << 40n, (v) => v >= 0n && v < 1n << 64n, 'a byte count as a u64 bigint');
    this.kvm = new Kvm(this);

    const ctx: MachineContext = {
      hostMemory: this.hostMemory,
      vmm: this.vmm,
      injector: this.injector,
      guestVaddr: gva,
      guestSize,
      options,
    };
    this.container = ((options.container as DependencyContainer | undefined) ?? rootContainer).createChildContainer();
    this.container.register(MACHINE_CONTEXT, { useValue: ctx });
    if (reg.create) this.driver = reg.create(ctx);
    else if (reg.driver) this.driver = this.container.resolve(reg.driver as unknown as new () => IommuDriver);
    else fail('EINVAL', `vendor '${reg.vendor}' registered neither create() nor a driver class`);
    if (this.driver.vendor !== reg.vendor) {
      fail('EINVAL', `vendor '${reg.vendor}': its registration built a driver that calls itself '${String(this.driver.vendor)}' (IommuDriver.vendor must be the registered name)`);
    }
    const unit = this.driver.unit;
    this.hw = typeof unit.translate === 'function' ? (unit as { translate(req: DmaRequest): TranslateResult }) : this.driver;
    for (const d of descs) this.devices.set(d.name, new Device(this, d));
    // Host PASIDs only within what the IOMMU's PASID tables hold (Linux's max_pasids).
    const pasidBits = Math.max(0, ...descs.map((d) => this.driver.capabilities(d).pasidBits));
    this.pasids = new PasidAllocator(this.injector, pasidBits > 0 ? 2 ** Math.min(pasidBits, 20) : PASID_LIMIT);
  }

  /** The IOMMU unit's hardware view (registers). */
  get iommu(): IommuUnit {
    return this.driver.unit;
  }

  device(name: string): Device {
    if (typeof name !== 'string') fail('EINVAL', `device name must be a string (got ${typeof name})`);
    const d = this.devices.get(name);
    if (!d) fail('ENODEV', `no device named '${name}' (devices: ${[...this.devices.keys()].join(', ')})`);
    return d;
  }

  get deviceList(): Device[] {
    return [...this.devices.values()];
  }

  openIoasidFd(): IoasidFd {
    const fd = new IoasidFd(this);
    this.fds.add(fd);
    return fd;
  }

  /** Fail the n-th allocation (frames and bookkeeping) from now on; 0 disarms. */
  injectAllocFailure(n: number): void {
    this.injector.failNth(n);
  }

  /** One request object reused by every DMA: the bus model is synchronous. */
  private readonly request: DmaRequest = { rid: 0, pasid: -1, iovaFrame: 0, offset: 0, write: false, privileged: false };

  /**
   * A DMA on the bus: translated page by page by the IOMMU model; bytes move through host
   * memory between `buf` and the pages. A blocked page stops the transfer and throws DmaFault
   * with the vendor record.
   */
  dma(dev: Device, rid: number, pasid: number, iova: bigint, buf: Uint8Array, write: boolean, privileged: boolean): void {
    const length = buf.length;
    let frame = Number(iova >> 12n);
    let within = Number(iova & 0xfffn);
    const req = this.request;
    req.rid = rid;
    req.pasid = pasid;
    req.write = write;
    req.privileged = privileged;
    const mem = this.hostMemory;
    let off = 0;
    while (off < length) {
      const n = Math.min(length - off, PAGE_SIZE - within);
      req.iovaFrame = frame;
      req.offset = within;
      const r = this.hw.translate(req);
      if (typeof r !== 'number') this.raise(dev, r);
      if (write) mem.writeFrom(r * PAGE_SIZE + within, buf, off, n);
      else mem.readInto(r * PAGE_SIZE + within, buf, off, n);
      off += n;
      frame++;
      within = 0;
    }
  }

  private raise(dev: Device, record: FaultRecord): never {
    dev.fd?.reportFault(dev, record);
    throw new DmaFault(record);
  }
}

export function createMachine(options: MachineOptions): Machine {
  return new Machine(options);
}
