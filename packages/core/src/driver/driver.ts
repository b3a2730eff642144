import type { FaultRecord } from '../base/errors.js';
import type { MachineOptions } from '../base/machine-options.js';
import type { IoasidInfo, IovaRange, PgtableFormat, Protocol } from '../base/info.js';
import type { HostMemory } from '../memory/host-memory.js';
import type { PhysRuns } from '../memory/phys-runs.js';
import type { VmmMemory } from '../memory/vmm.js';
import type { DumpTable } from '../pgtable/engine.js';
import type { PtLookupStep } from '../pgtable/views.js';
import type { DirtyLog } from '../pgtable/dirty-log.js';
import type { AllocInjector } from '../memory/alloc-injector.js';
import type { GuestMemory } from '../memory/guest.js';
import type { PtFormat } from '../pgtable/format.js';
import type { WalkTrace, WalkTracer } from '../hw/walk-trace.js';

/** What the IOMMU driver knows of a device (its probe data). */
export interface DeviceDesc {
  readonly name: string;
  /** PCI requester ID (bus << 8 | devfn); an mdev carries its parent's. */
  readonly rid: number;
  readonly kind: 'pdev' | 'mdev';
  readonly parent?: string;
  readonly group: number;
  readonly ats: boolean;
  readonly pri: boolean;
  /** ENQCMD-capable work submission (mdev of a DSA-like device). */
  readonly enqcmd: boolean;
}

/** The machine-wide services a driver (and its hardware model) works with. */
export interface MachineContext {
  readonly hostMemory: HostMemory;
  readonly vmm: VmmMemory;
  readonly injector: AllocInjector;
  /** Guest RAM: GPA g lives at VMM address guestVaddr + g. */
  readonly guestVaddr: bigint;
  readonly guestSize: bigint;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A DMA as the device puts it on the bus. */
export interface DmaRequest {
  rid: number;
  /** -1 when the request carries no PASID. */
  pasid: number;
  /** Input address in 4 KiB frames. */
  iovaFrame: number;
  /**
   * Byte offset of the request's first byte inside `iovaFrame` (0–4095; absent means 0): the
   * translation is per page, but a unit that reports the full input address (an SMMUv3 event's
   * InputAddr) needs it.
   */
  offset?: number;
  write: boolean;
  privileged: boolean;
  /**
   * PCIe AT = translated: `iovaFrame` is already a host frame the endpoint took from its own
   * ATS cache. A unit that does not accept translated requests from this requester must block it.
   */
  translated?: boolean;
}

/** Host frame of the page, or the vendor's fault record. */
export type TranslateResult = number | FaultRecord;

export type InvalidateRequest =
  | { all: true; pasid?: number }
  | { all?: false; iova: bigint; size: bigint; pasid?: number };

/** Decoded view of an address space, read from memory. */
export interface DomainDump {
  /** What the view covers, e.g. 'second-level', 'tce window 1', 'guest stage-1 via CD 3'. */
  title: string;
  /** Input base of the table (non-zero for a POWER DDW). */
  inputBase: bigint;
  format: string;
  root: DumpTable | null;
  /** Structures above the page table (PASID entry, STE, TVE…), decoded. */
  context?: Record<string, unknown>;
  children?: DomainDump[];
}

/** One entry LOOKUP read; `level` as the vendor specification numbers it. */
export type LookupStepView = PtLookupStep;

export interface LookupView {
  iova: bigint;
  steps: LookupStepView[];
  /** Final output address, or null when the walk ends on a non-present entry or fault. */
  output: bigint | null;
  perms?: { read: boolean; write: boolean };
  pageSize?: bigint;
  fault?: string;
  /** The hardware's own walk for a device attached to the IOASID, when the unit can trace. */
  trace?: WalkTrace;
}

export interface DomainRequest {
  protocol: Protocol;
  /** Vendor format details given to ALLOC / CREATE_NESTING (e.g. `window` on POWER). */
  format: Readonly<Record<string, unknown>>;
  /** Set for a child created by CREATE_NESTING with hardware nesting. */
  parent?: IommuDomain;
}

/**
 * The kernel-side handle of an address space in the vendor's format. `map`/`unmap` are only
 * called on 'map' domains with ranges core has validated (aligned, in a permitted range, free).
 */
export interface IommuDomain {
  readonly protocol: Protocol;
  /** Page sizes and permitted IOVA ranges this domain itself allows. */
  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] };
  /**
   * The IOVA ranges `dev` will permit once attached to this domain, when that differs from its
   * capabilities before the attach (a POWER DDW becomes valid in the TVT by the attach itself).
   */
  permittedAfterAttach?(dev: DeviceDesc): IovaRange[];
  /**
   * Null if `dev` can join this domain, or the reason it cannot (→ EINVAL). `replacing` is the
   * domain that holds the route now and that this attach takes it over from (a nested child
   * attached on top of its parent); the route being held by it is no reason to refuse.
   */
  checkAttach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null;
  /**
   * Routes (dev, pasid) to this domain. With `replacing`, the route switches from that domain in
   * one step (as Linux's replace does: no blocked window, one flush); `replacing` stays attached
   * underneath and gets the route back when this domain detaches.
   */
  attach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): void;
  /** Removes (dev, pasid) from this domain; with `restoring`, the route goes back to that domain. */
  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void;
  map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void;
  unmap(iova: bigint, size: bigint): void;
  bindPgtable?(addr: bigint, format: PgtableFormat): void;
  bindPasidTable?(addr: bigint, format: PgtableFormat): void;
  /** Issues the hardware's invalidation commands for this domain and every attachment. */
  invalidate(req: InvalidateRequest): void;
  dump(): DomainDump;
  lookup(iova: bigint, pasid?: number): LookupView;
  /**
   * SET_DIRTY_TRACKING: start or stop the hardware's dirty logging for every route of this
   * domain (with the context invalidations that takes). Only called when core has checked that
   * every attached device can track.
   */
  setDirtyTracking?(enable: boolean): void;
  /**
   * GET_DIRTY_BITMAP: marks in `log` the leaves meeting its range (input frames `log.first`,
   * `log.frames`) whose dirty state is set, each as the whole range it maps, read from the tables
   * in memory (`ptHarvestDirty` does this for an engine table); with `clear`, the dirty state is
   * cleared in memory and the IOTLB invalidated for what was cleared (`log.runs`, or
   * `log.low`..`log.high`), so that the next write is logged again.
   */
  readDirty?(log: DirtyLog, clear: boolean): void;
  /** Frees every structure the domain owns (after all detaches). */
  destroy(): void;
}

/** The hardware registers of the unit, named and encoded as the vendor specification defines them. */
export interface IommuUnit {
  /** A snapshot of every architectural register, by its specification name (no side effect). */
  registers(): Record<string, bigint>;
  /** MMIO read of one register by its specification name, with what the hardware does on a read. */
  read?(name: string): bigint;
  /** MMIO write of one register by its specification name (RW1C bits clear, doorbells ring). */
  write?(name: string, value: bigint): void;
  /**
   * The hardware's translation of one request, from memory, registers and its own caches only
   *. When a unit has it, the bus sends DMA here rather than through the driver.
   */
  translate?(req: DmaRequest): TranslateResult;
  /**
   * The same walk `translate` makes for `req`, recording every structure it reads into `tracer`,
   * with no side effect: no cache is filled, no fault is recorded, no A/D bit is written. With
   * `caches`, the walk first probes the translation caches the request would consult (without
   * changing them) and stops at a hit, so a stale entry shows as what the DMA would use.
   */
  walk?(req: DmaRequest, tracer: WalkTracer, options?: { caches?: boolean }): TranslateResult;
}

/** One entry of a guest PASID/CD table the guest kernel writes. */
export interface GuestPasidEntry {
  pasid: number;
  /** GPA of the guest page table this PASID uses. */
  root: bigint;
  /** One of the bindable page-table formats GET_INFO lists. */
  pgtable: PgtableFormat;
  /** Address-space tag the guest gives it (SMMU ASID); the helper picks one when absent. */
  asid?: number;
}

/**
 * What the guest kernel needs to know of a vendor to build the structures it binds: the format
 * of its page tables and the layout of its PASID table. The conformance kit and scenario files
 * use these to stay vendor-neutral.
 */
export interface GuestKernelHelpers {
  /** The PtFormat of a bindable format as GET_INFO lists it (for GuestMemory.createPageTable). */
  pageTableFormat(format: PgtableFormat): PtFormat;
  /** Writes a PASID table of `format` (a pasidTableFormats entry) into guest memory; returns its GPA. */
  buildPasidTable?(guest: GuestMemory, format: PgtableFormat, entries: GuestPasidEntry[]): bigint;
  /** Rewrites (or, with root undefined, invalidates) one entry of a table buildPasidTable made. */
  updatePasidEntry?(guest: GuestMemory, table: bigint, format: PgtableFormat, entry: GuestPasidEntry | { pasid: number; root?: undefined }): void;
}

/** Everything a vendor supplies. */
export interface IommuDriver {
  readonly vendor: string;
  readonly unit: IommuUnit;
  /** Guest-side helpers for the binding protocols (absent when the vendor has none). */
  readonly guest?: GuestKernelHelpers;
  /**
   * The vendor format fields ALLOC and CREATE_NESTING accept besides `protocol` (and `parent`),
   * per protocol of the new IOASID: the keys its `createDomain` reads from `DomainRequest.format`
   * (POWER: `window` for 'map'). Core refuses any other field with EINVAL naming it, before
   * anything is allocated; absent means no vendor fields at all. The driver still checks values.
   */
  readonly allocFormatKeys?: Readonly<Partial<Record<Protocol, readonly string[]>>>;
  /** Per-device GET_INFO, derived from the unit's registers. */
  capabilities(dev: DeviceDesc): IoasidInfo;
  /** Called when a device is bound to an fd / unbound. */
  probeDevice?(dev: DeviceDesc): void;
  releaseDevice?(dev: DeviceDesc): void;
  createDomain(req: DomainRequest): IommuDomain;
  /** The hardware model: reads only memory, registers and its own caches. */
  translate(req: DmaRequest): TranslateResult;
  /** A page response (PAGE_RESPONSE) travelling back to the device through the unit. */
  pageResponse?(dev: DeviceDesc, pasid: number, record: FaultRecord, code: PageResponseCode): void;
  /** Clears a sticky error state (POWER: EEH freeze) so the device can DMA again. */
  resetDevice?(dev: DeviceDesc): void;
}

export type PageResponseCode = 'success' | 'invalid' | 'failure';

/** How a vendor module builds its driver for one machine. */
export type IommuDriverFactory = (ctx: MachineContext) => IommuDriver;

export interface VendorRegistration {
  vendor: string;
  description: string;
  /**
   * How the driver is built for a machine: a factory, or an `@injectable()` driver class that the
   * machine's child container resolves (its constructor takes `@inject(MACHINE_CONTEXT)`).
   */
  create?: IommuDriverFactory;
  driver?: new (...args: never[]) => IommuDriver;
  /**
   * The machine option keys this vendor reads from `MachineContext.options`, besides core's own
   * (`vendor`, `devices`, `hostMemory`, …): `createMachine` refuses any other key with EINVAL
   * naming it. Declare the same keys for TypeScript by augmenting `VendorMachineOptions`.
   */
  machineOptions?: readonly string[];
  /** Machine options a default machine for this vendor uses (devices, …): core's or declared keys. */
  defaultMachine?: Omit<Partial<MachineOptions>, 'vendor' | 'container'>;
  /**
   * Every fault the unit can report, as its specification names and numbers it, each with a
   * one-line meaning (the `explain` of its DmaFault records): shown by `ioasid info --faults`.
   */
  faults?: readonly FaultDescription[];
  /**
   * The vendor's hardware model alone over a host-memory image (no driver): its identification
   * registers set from `registers` (a `registers()` snapshot of the unit the image came from, or
   * a user's own values by the same names), and its control registers programmed from them in
   * the order firmware or a driver programs the unit. The result answers `walk` and `translate`
   * as the original unit did. Throws IoasidError (EINVAL) naming a missing or bad register.
   */
  hardware?: (memory: HostMemory, registers: Readonly<Record<string, bigint>>) => IommuUnit;
}

/** One fault code of a vendor's catalogue. */
export interface FaultDescription {
  code: number;
  name: string;
  explain: string;
}
