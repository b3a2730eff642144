import { fail, type FaultRecord } from '../base/errors.js';
import type { IoasidInfo, NestingKind, PgtableFormat, Protocol } from '../base/info.js';
import type { DomainDump, LookupView } from '../driver/driver.js';
import type { IoFault } from '../faults/fault-queue.js';
import { PROT_READ, PROT_WRITE } from '../pgtable/format.js';
import type { PinAccounting } from '../rules/accounting.js';
import * as cmd from './commands.js';
import { IOASID_EXTENSIONS, type IoasidExtension } from './commands.js';
import type {
  AllocArgs,
  BindArgs,
  CreateNestingArgs,
  InvalidateArgs,
  GetDirtyBitmapArgs,
  MapDmaArgs,
  PageResponseArgs,
  SetDirtyTrackingArgs,
  RegisterMemoryArgs,
  UnmapDmaArgs,
} from './command-args.js';
import { FdContext, type FdHost } from './fd-context.js';
import type { Attachment, FdDevice, IoasidObject } from './ioasid.js';
import * as registration from './memory-registration.js';
import * as lifecycle from './ioasid-alloc.js';
import { getInfo } from './get-info.js';
import * as dma from './map-dma.js';
import * as binding from './bind.js';
import { invalidateCache } from './invalidate.js';
import * as faults from './fault.js';
import * as debugView from './debug-view.js';
import * as dirty from './dirty-tracking.js';
import * as devices from './device-bind.js';
import * as attach from './attach.js';
import { copyOut, onlyKeys, show, type Args } from './validate.js';

export { IOASID_LIMIT } from './fd-context.js';

/** `fd.describe()`: the fd's state as plain data. */
export interface FdDescription {
  ioasids: {
    id: number;
    protocol: Protocol;
    nesting: NestingKind;
    parent?: number;
    children: number[];
    maps: { iova: bigint; size: bigint; vaddr: bigint; read: boolean; write: boolean }[];
    attachments: { device: string; userPasid?: number; wirePasid?: number }[];
    bound?: { addr: bigint; format: PgtableFormat };
  }[];
  devices: { name: string; label: string }[];
  lockedPages: number;
  registrations: { vaddr: bigint; size: bigint }[];
}

/**
 * The IOASID fd: a context holding I/O address spaces. Each command lives in the
 * file of the uAPI object it acts on; the fd holds their shared state (FdContext), closes,
 * describes itself and dispatches ioctl numbers through a sorted table.
 */
export class IoasidFd {
  private readonly ctx: FdContext;
  readonly devices: Set<FdDevice>;
  readonly accounting: PinAccounting;

  /**
   * `machine.openIoasidFd()` is how an fd is opened. `options.ioasidLimit` (2 … IOASID_LIMIT)
   * makes the IOASID number space smaller, for tools and tests that exercise ENOSPC.
   */
  constructor(
    readonly machine: FdHost,
    options: { ioasidLimit?: number } = {},
  ) {
    this.ctx = new FdContext(this, machine, options.ioasidLimit);
    this.devices = this.ctx.devices;
    this.accounting = this.ctx.accounting;
  }

  get closed(): boolean {
    return this.ctx.closed;
  }

  ioasidObject(ioasid: number): IoasidObject {
    return this.ctx.get(ioasid);
  }

  get ioasidIds(): number[] {
    return [...this.ctx.ioasids.keys()];
  }

  /**
   * CHECK_EXTENSION for this machine: what core offers everywhere (pre-registration, software
   * nesting, unmap-all), and what depends on the IOMMU answered as its GET_INFO answers for the
   * machine's devices (hardware nesting, page faults). An unknown name answers 0, as Linux does.
   */
  checkExtension(ext: IoasidExtension): 0 | 1 {
    this.ctx.live();
    if (typeof ext !== 'string') fail('EINVAL', `ext must be an extension name (a string), got ${show(ext)}`);
    if (!(IOASID_EXTENSIONS as readonly string[]).includes(ext)) return 0;
    const host = this.ctx.host;
    const anyDevice = (f: (info: IoasidInfo) => boolean): 0 | 1 => (host.deviceList.some((d) => f(host.driver.capabilities(d.desc))) ? 1 : 0);
    switch (ext) {
      case 'hardware-nesting':
        return anyDevice((i) => i.nesting === 'hardware');
      case 'page-faults':
        return anyDevice((i) => i.pageRequest);
      case 'dirty-tracking':
        return anyDevice((i) => i.dirtyTracking === true);
      default:
        return 1;
    }
  }

  registerMemory(args: RegisterMemoryArgs): void {
    registration.registerMemory(this.ctx, args);
  }

  unregisterMemory(args: RegisterMemoryArgs): void {
    registration.unregisterMemory(this.ctx, args);
  }

  /** Whether any map or registration of this fd pins part of the VMM range. */
  pins(vaddr: bigint, size: bigint): boolean {
    return registration.pins(this.ctx, vaddr, size);
  }

  alloc(args: AllocArgs): number {
    return lifecycle.alloc(this.ctx, args);
  }

  createNesting(args: CreateNestingArgs): number {
    return lifecycle.createNesting(this.ctx, args);
  }

  free(ioasid: number): void {
    lifecycle.free(this.ctx, ioasid);
  }

  /** GET_INFO of an IOASID (§3): a copy the caller owns. */
  getInfo(ioasid: number): IoasidInfo {
    return getInfo(this.ctx, ioasid);
  }

  mapDma(args: MapDmaArgs): void {
    dma.mapDma(this.ctx, args);
  }

  unmapDma(args: UnmapDmaArgs): bigint {
    return dma.unmapDma(this.ctx, args);
  }

  bindPgtable(args: BindArgs): void {
    binding.bindPgtable(this.ctx, args);
  }

  bindPasidTable(args: BindArgs): void {
    binding.bindPasidTable(this.ctx, args);
  }

  invalidateCache(args: InvalidateArgs): void {
    invalidateCache(this.ctx, args);
  }

  /** READ_FAULTS: the unread faults, oldest first, as copies (the pending page requests stay the fd's). */
  readFaults(ioasid: number): IoFault[] {
    return faults.readFaults(this.ctx, ioasid);
  }

  pageResponse(args: PageResponseArgs): void {
    faults.pageResponse(this.ctx, args);
  }

  /** Routes a DMA fault to the IOASID the request was attached to. */
  reportFault(dev: FdDevice, record: FaultRecord): void {
    faults.reportFault(this.ctx, dev, record);
  }

  dumpPgtable(ioasid: number): DomainDump {
    return debugView.dumpPgtable(this.ctx, ioasid);
  }

  /** SET_DIRTY_TRACKING: the IOMMU starts (or stops) logging DMA writes in this IOASID's entries. */
  setDirtyTracking(args: SetDirtyTrackingArgs): void {
    dirty.setDirtyTracking(this.ctx, args);
  }

  /** GET_DIRTY_BITMAP: one bit per `pageSize` from `iova` (iommufd's __u64 bitmap, little-endian), read and cleared unless `noClear`. */
  getDirtyBitmap(args: GetDirtyBitmapArgs): Uint8Array {
    return dirty.getDirtyBitmap(this.ctx, args);
  }

  /**
   * LOOKUP: the walk of `iova` decoded from memory, and, when the unit can trace and a device
   * reaches the IOASID, `trace`: the hardware's own walk of that device's request.
   */
  lookup(ioasid: number, iova: bigint, options: debugView.LookupOptions = {}): LookupView {
    return debugView.lookup(this.ctx, ioasid, iova, options);
  }

  // ---- devices (called from Device) -----------------------------------------------------------

  bindDevice(dev: FdDevice, label: string): void {
    devices.bindDevice(this.ctx, dev, label);
  }

  unbindDevice(dev: FdDevice): void {
    devices.unbindDevice(this.ctx, dev);
  }

  /** The attachments of a device bound to this fd (RID stack first, then its vPASIDs). */
  attachmentsOf(dev: FdDevice): Attachment[] {
    return attach.attachmentsOf(this.ctx, dev);
  }

  /** Host PASID an mdev puts on the wire for its default space (undefined) or a vPASID. */
  mdevHostPasid(dev: FdDevice, userPasid: number | undefined): number | undefined {
    return attach.mdevHostPasid(this.ctx, dev, userPasid);
  }

  attachDevice(dev: FdDevice, ioasid: number, userPasid: number | undefined): void {
    attach.attachDevice(this.ctx, dev, ioasid, userPasid);
  }

  detachDevice(dev: FdDevice, ioasid: number, userPasid: number | undefined): void {
    attach.detachDevice(this.ctx, dev, ioasid, userPasid);
  }

  /** The host PASID of an IOASID for KVM's PASID translation (ioasid_get_global_pasid). */
  getGlobalPasid(ioasid: number): number {
    return attach.takeGlobalPasid(this.ctx, this.ctx.get(ioasid));
  }

  putGlobalPasid(ioasid: number): void {
    attach.putGlobalPasid(this.ctx, ioasid);
  }

  /** Releases everything: attachments, address spaces, registrations, device bindings. */
  close(): void {
    const ctx = this.ctx;
    if (ctx.closed) return;
    const all = [...ctx.ioasids.values()];
    const ordered = [...all.filter((o) => o.parent), ...all.filter((o) => !o.parent)];
    for (const o of ordered) {
      for (const a of [...o.attachments].reverse()) attach.detachDevice(ctx, a.device, o.id, a.userPasid);
    }
    for (const o of ordered) lifecycle.destroy(ctx, o);
    ctx.accounting.registrations.length = 0;
    ctx.accounting.lockedPages = 0;
    for (const d of [...ctx.devices]) devices.unbindDevice(ctx, d);
    ctx.closed = true;
    this.machine.fds.delete(this);
  }

  /**
   * What this fd holds, as plain data: every IOASID with its protocol, nesting, maps, attachments
   * and binding, the bound devices, and the pinned-page accounting. Reading it changes nothing,
   * and what it returns is the caller's own copy (nothing in it is shared with the fd or the user).
   */
  describe(): FdDescription {
    const ctx = this.ctx;
    ctx.live();
    return {
      ioasids: [...ctx.ioasids.values()].map((o) => ({
        id: o.id,
        protocol: o.protocol,
        nesting: o.nesting,
        parent: o.parent?.id,
        children: [...o.children].map((c) => c.id),
        maps: o.maps.all().map((m) => ({ iova: m.iova, size: m.size, vaddr: m.vaddr, read: (m.prot & PROT_READ) !== 0, write: (m.prot & PROT_WRITE) !== 0 })),
        attachments: o.attachments.map((a) => ({ device: a.device.name, userPasid: a.userPasid, wirePasid: a.wirePasid })),
        bound: o.bound ? { addr: o.bound.addr, format: copyOut(o.bound.format) } : undefined,
      })),
      devices: [...ctx.devices].map((d) => ({ name: d.name, label: d.label })),
      lockedPages: ctx.accounting.lockedPages,
      registrations: ctx.accounting.registrations.map((r) => ({ vaddr: r.vaddr, size: r.size })),
    };
  }

  /**
   * Dispatches a command by its proposal number (trace replay, scenario files). Commands that
   * name one IOASID (FREE, GET_INFO, READ_FAULTS, DUMP_PGTABLE) take the number or `{ ioasid }`.
   */
  ioctl(command: number, arg?: unknown): unknown {
    if (typeof command !== 'number' || !Number.isInteger(command)) fail('EINVAL', `command must be an ioctl number (got ${show(command)})`);
    this.ctx.live();
    const op = IOCTLS[command - IOCTLS[0].nr];
    if (op?.nr !== command) fail('EINVAL', `unknown ioctl command 0x${command.toString(16)}`);
    return op.run(this, op.read(this.ctx, arg, op.name) as never);
  }
}

/** How an ioctl's argument is read before the command runs. */
type ArgReader = (ctx: FdContext, arg: unknown, command: string) => unknown;

/** The command reads its own argument object. */
const asIs: ArgReader = (_ctx, arg) => arg;

/** The IOASID a single-IOASID command names: the number itself, or `{ ioasid }` (looked up first, §9). */
const oneIoasid: ArgReader = (ctx, arg, command) => {
  if (typeof arg !== 'object' || arg === null) return arg;
  const a = ctx.args(arg, command);
  ctx.get(a.ioasid);
  onlyKeys(a, ['ioasid'], command);
  return a.ioasid;
};

const lookupArgs: ArgReader = (ctx, arg, command) => {
  const l = ctx.args(arg, command);
  ctx.get(l.ioasid);
  onlyKeys(l, ['ioasid', 'iova', 'pasid', 'device', 'write', 'caches'], command);
  return l;
};

interface Ioctl {
  readonly nr: number;
  readonly name: string;
  readonly read: ArgReader;
  readonly run: (fd: IoasidFd, arg: never) => unknown;
}

function entry<A>(nr: number, name: string, read: ArgReader, run: (fd: IoasidFd, arg: A) => unknown): Ioctl {
  return { nr, name, read, run };
}

const withdrawn = (): never => fail('EOPNOTSUPP', 'UNBIND was withdrawn in v2 of the proposal: FREE the IOASID to unbind');

/** Every ioctl, sorted by number with no gap: the number indexes the table. */
const IOCTLS: readonly Ioctl[] = [
  entry(cmd.IOASID_CHECK_EXTENSION, 'IOASID_CHECK_EXTENSION', asIs, (fd, a: IoasidExtension) => fd.checkExtension(a)),
  entry(cmd.IOASID_REGISTER_MEMORY, 'IOASID_REGISTER_MEMORY', asIs, (fd, a: RegisterMemoryArgs) => fd.registerMemory(a)),
  entry(cmd.IOASID_UNREGISTER_MEMORY, 'IOASID_UNREGISTER_MEMORY', asIs, (fd, a: RegisterMemoryArgs) => fd.unregisterMemory(a)),
  entry(cmd.IOASID_ALLOC, 'IOASID_ALLOC', asIs, (fd, a: AllocArgs) => fd.alloc(a)),
  entry(cmd.IOASID_FREE, 'IOASID_FREE', oneIoasid, (fd, id: number) => fd.free(id)),
  entry(cmd.IOASID_GET_INFO, 'IOASID_GET_INFO', oneIoasid, (fd, id: number) => fd.getInfo(id)),
  entry(cmd.IOASID_MAP_DMA, 'IOASID_MAP_DMA', asIs, (fd, a: MapDmaArgs) => fd.mapDma(a)),
  entry(cmd.IOASID_UNMAP_DMA, 'IOASID_UNMAP_DMA', asIs, (fd, a: UnmapDmaArgs) => fd.unmapDma(a)),
  entry(cmd.IOASID_CREATE_NESTING, 'IOASID_CREATE_NESTING', asIs, (fd, a: CreateNestingArgs) => fd.createNesting(a)),
  entry(cmd.IOASID_BIND_PGTABLE, 'IOASID_BIND_PGTABLE', asIs, (fd, a: BindArgs) => fd.bindPgtable(a)),
  entry(cmd.IOASID_UNBIND_PGTABLE, 'IOASID_UNBIND_PGTABLE', asIs, withdrawn),
  entry(cmd.IOASID_BIND_PASID_TABLE, 'IOASID_BIND_PASID_TABLE', asIs, (fd, a: BindArgs) => fd.bindPasidTable(a)),
  entry(cmd.IOASID_UNBIND_PASID_TABLE, 'IOASID_UNBIND_PASID_TABLE', asIs, withdrawn),
  entry(cmd.IOASID_INVALIDATE_CACHE, 'IOASID_INVALIDATE_CACHE', asIs, (fd, a: InvalidateArgs) => fd.invalidateCache(a)),
  entry(cmd.IOASID_READ_FAULTS, 'IOASID_READ_FAULTS', oneIoasid, (fd, id: number) => fd.readFaults(id)),
  entry(cmd.IOASID_PAGE_RESPONSE, 'IOASID_PAGE_RESPONSE', asIs, (fd, a: PageResponseArgs) => fd.pageResponse(a)),
  entry(cmd.IOASID_DUMP_PGTABLE, 'IOASID_DUMP_PGTABLE', oneIoasid, (fd, id: number) => fd.dumpPgtable(id)),
  entry(cmd.IOASID_LOOKUP, 'IOASID_LOOKUP', lookupArgs, (fd, l: Args) =>
    fd.lookup(l.ioasid as number, l.iova as bigint, Object.fromEntries(['pasid', 'device', 'write', 'caches'].filter((k) => l[k] !== undefined).map((k) => [k, l[k]]))),
  ),
  entry(cmd.IOASID_SET_DIRTY_TRACKING, 'IOASID_SET_DIRTY_TRACKING', asIs, (fd, a: SetDirtyTrackingArgs) => fd.setDirtyTracking(a)),
  entry(cmd.IOASID_GET_DIRTY_BITMAP, 'IOASID_GET_DIRTY_BITMAP', asIs, (fd, a: GetDirtyBitmapArgs) => fd.getDirtyBitmap(a)),
];
