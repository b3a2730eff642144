import { fail, type FaultRecord } from './errors.js';
import { hex, u64 } from './args.js';
import type { IoasidInfo, NestingKind, PgtableFormat, Protocol } from './info.js';
import type { DomainDump, InvalidateRequest, LookupView, PageResponseCode } from '../driver/driver.js';
import type { Machine } from '../machine.js';
import type { Device } from './device.js';
import { IoasidObject, type Attachment } from './ioasid.js';
import { PinAccounting } from '../rules/accounting.js';
import type { DmaMapping } from '../rules/dma-map.js';
import { intersectRanges, rangeHolding } from '../rules/ranges.js';
import { SoftwareNesting } from '../nesting/software-nesting.js';
import type { IoFault } from '../faults/fault-queue.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../memory/host-memory.js';
import { PROT_READ, PROT_WRITE } from '../pgtable/format.js';
import * as cmd from './commands.js';
import { IOASID_EXTENSIONS } from './commands.js';
import { checkGroups } from '../rules/groups.js';

const PROTOCOLS: readonly Protocol[] = ['map', 'user-pgtable', 'user-pasid-table'];

export interface AllocArgs {
  protocol: Protocol;
  [vendorFormat: string]: unknown;
}
export interface MapDmaArgs {
  ioasid: number;
  iova: bigint;
  vaddr: bigint;
  size: bigint;
  read?: boolean;
  write?: boolean;
}
export type UnmapDmaArgs = { ioasid: number; iova: bigint; size: bigint; all?: false } | { ioasid: number; all: true };
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

export type InvalidateArgs =
  | { ioasid: number; all: true; pasid?: number }
  | { ioasid: number; all?: false; iova: bigint; size: bigint; pasid?: number };

/** The IOASID fd: a context holding I/O address spaces (DESIGN §2). */
export class IoasidFd {
  closed = false;
  private readonly ioasids = new Map<number, IoasidObject>();
  private nextId = 1;
  private nextFaultId = 1;
  readonly devices = new Set<Device>();
  readonly accounting: PinAccounting;
  private readonly nesting: SoftwareNesting;

  constructor(readonly machine: Machine) {
    this.accounting = new PinAccounting(Number(machine.memlockLimit >> BigInt(PAGE_SHIFT)));
    this.nesting = new SoftwareNesting(machine.vmm);
  }

  // ---- lookup helpers (order of checks: DESIGN §9) ----------------------------------------

  private live(): void {
    if (this.closed) fail('EBADF', 'the IOASID fd is closed');
  }

  private get(ioasid: unknown, name = 'ioasid'): IoasidObject {
    this.live();
    const o = typeof ioasid === 'number' ? this.ioasids.get(ioasid) : undefined;
    if (!o) fail('ENOENT', `${name} ${String(ioasid)} does not exist in this fd`);
    return o;
  }

  private expect(o: IoasidObject, protocol: Protocol, command: string): void {
    if (o.protocol !== protocol) {
      fail('EOPNOTSUPP', `${command} needs a '${protocol}' IOASID; IOASID ${o.id} was allocated with protocol '${o.protocol}'`);
    }
  }

  private groups(o: IoasidObject): void {
    checkGroups(o, this.machine.deviceList);
  }

  ioasidObject(ioasid: number): IoasidObject {
    return this.get(ioasid);
  }

  get ioasidIds(): number[] {
    return [...this.ioasids.keys()];
  }

  // ---- CHECK_EXTENSION / memory registration ----------------------------------------------

  checkExtension(ext: string): 0 | 1 {
    this.live();
    return (IOASID_EXTENSIONS as readonly string[]).includes(ext) && ext !== 'dirty-tracking' ? 1 : 0;
  }

  registerMemory(args: { vaddr: bigint; size: bigint }): void {
    this.live();
    const vaddr = u64(args?.vaddr, 'vaddr');
    const size = u64(args?.size, 'size');
    pageAligned(vaddr, 'vaddr');
    if (size === 0n) fail('EINVAL', 'size must not be zero');
    pageAligned(size, 'size');
    const region = this.machine.vmm.region(vaddr, size);
    const clash = this.accounting.overlapping(vaddr, size);
    if (clash) fail('EEXIST', `vaddr range ${hex(vaddr)}+${hex(size)} overlaps the registration ${this.accounting.describe(clash)}`);
    const pages = PinAccounting.pages(size);
    this.accounting.checkCharge(pages, 'REGISTER_MEMORY');
    this.machine.injector.check('registration');
    // Pinning populates the range (ENOMEM, nothing changed, if host memory cannot hold it).
    region.populate(Number((vaddr - region.vaddr) >> BigInt(PAGE_SHIFT)), pages);
    this.accounting.registrations.push({ vaddr, size });
    this.accounting.lockedPages += pages;
  }

  unregisterMemory(args: { vaddr: bigint; size: bigint }): void {
    this.live();
    const vaddr = u64(args?.vaddr, 'vaddr');
    const size = u64(args?.size, 'size');
    const i = this.accounting.registrations.findIndex((r) => r.vaddr === vaddr && r.size === size);
    if (i < 0) fail('ENOENT', `no registration at vaddr ${hex(vaddr)} of size ${hex(size)}`);
    for (const o of this.ioasids.values()) {
      if (o.isSoftwareChild) continue;
      const m = o.maps.all().find((x) => x.chargedPages === 0 && x.vaddr < vaddr + size && vaddr < x.vaddr + x.size);
      if (m) fail('EBUSY', `registered range ${hex(vaddr)}+${hex(size)} is still mapped by IOASID ${o.id} at iova ${hex(m.iova)}`);
    }
    this.accounting.registrations.splice(i, 1);
    this.accounting.lockedPages -= PinAccounting.pages(size);
  }

  /** Whether any map or registration of this fd pins part of the VMM range. */
  pins(vaddr: bigint, size: bigint): boolean {
    if (this.accounting.overlapping(vaddr, size)) return true;
    for (const o of this.ioasids.values()) {
      if (o.isSoftwareChild) continue;
      if (o.maps.all().some((m) => m.vaddr < vaddr + size && vaddr < m.vaddr + m.size)) return true;
    }
    return false;
  }

  // ---- ALLOC / FREE / CREATE_NESTING --------------------------------------------------------

  alloc(args: AllocArgs): number {
    this.live();
    const { protocol, ...format } = args ?? ({} as AllocArgs);
    checkProtocol(protocol);
    if (protocol !== 'map') {
      fail('EINVAL', `protocol '${protocol}' binds a user table that the hardware walks through a parent: create it with CREATE_NESTING`);
    }
    this.machine.injector.check('ioasid');
    const domain = this.machine.driver.createDomain({ protocol, format });
    return this.insert(new IoasidObject(this.nextId, protocol, format, domain, undefined, 'none'));
  }

  private insert(o: IoasidObject): number {
    this.ioasids.set(o.id, o);
    this.nextId++;
    return o.id;
  }

  createNesting(args: { parent: number } & AllocArgs): number {
    const parent = this.get(args?.parent, 'parent');
    this.expect(parent, 'map', 'CREATE_NESTING (parent)');
    this.groups(parent);
    const { parent: _p, protocol, ...format } = args;
    checkProtocol(protocol);
    if (parent.parent) fail('EINVAL', `parent ${parent.id} is itself nested in ${parent.parent.id}; only one level of nesting is modelled`);
    this.machine.injector.check('ioasid');
    let nesting: NestingKind;
    let domain;
    if (protocol === 'map') {
      nesting = 'software';
      domain = this.machine.driver.createDomain({ protocol, format });
    } else {
      nesting = 'hardware';
      domain = this.machine.driver.createDomain({ protocol, format, parent: parent.domain });
    }
    const child = new IoasidObject(this.nextId, protocol, format, domain, parent, nesting);
    parent.children.add(child);
    return this.insert(child);
  }

  free(ioasid: number): void {
    const o = this.get(ioasid);
    if (o.attachments.length > 0) {
      fail('EBUSY', `IOASID ${ioasid} still has devices attached (${o.attachments.map((a) => a.device.name).join(', ')})`);
    }
    if (o.children.size > 0) fail('EBUSY', `IOASID ${ioasid} still has nested children (${[...o.children].map((c) => c.id).join(', ')})`);
    this.destroy(o);
  }

  private destroy(o: IoasidObject): void {
    for (const m of [...o.maps.all()]) this.removeMap(o, m);
    o.domain.destroy();
    if (o.globalPasid !== undefined) this.machine.pasids.free(o.globalPasid);
    this.machine.kvm.forgetIoasid(this, o.id);
    o.parent?.children.delete(o);
    this.ioasids.delete(o.id);
  }

  // ---- GET_INFO -----------------------------------------------------------------------------

  getInfo(ioasid: number): IoasidInfo {
    const o = this.get(ioasid);
    const own = o.domain.info();
    const devs = uniqueDevices(o.attachments);
    if (devs.length === 0) {
      return {
        protocols: [o.protocol],
        nesting: o.nesting,
        pageSizes: [],
        permittedRanges: [],
        formats: [],
        pasidTableFormats: [],
        pasidBits: 0,
        coherent: false,
        enqcmd: false,
        pageRequest: false,
        ats: false,
      };
    }
    const caps = devs.map((d) => this.machine.driver.capabilities(d.desc));
    let info = caps[0];
    for (const c of caps.slice(1)) info = intersectInfo(info, c);
    return {
      ...info,
      nesting: o.parent ? o.nesting : info.nesting,
      pageSizes: info.pageSizes.filter((s) => own.pageSizes.includes(s)),
      permittedRanges: intersectRanges(info.permittedRanges, own.permittedRanges),
    };
  }

  // ---- MAP_DMA / UNMAP_DMA ------------------------------------------------------------------

  mapDma(args: MapDmaArgs): void {
    const o = this.get(args?.ioasid);
    this.expect(o, 'map', 'MAP_DMA');
    this.groups(o);
    const iova = u64(args.iova, 'iova');
    const vaddr = u64(args.vaddr, o.isSoftwareChild ? 'vaddr (parent IOVA)' : 'vaddr');
    const size = u64(args.size, 'size');
    const prot = (args.read === false ? 0 : PROT_READ) | (args.write === false ? 0 : PROT_WRITE);
    if (prot === 0) fail('EINVAL', 'a map must allow read or write');
    if (size === 0n) fail('EINVAL', 'size must not be zero');
    if (iova + size > 1n << 64n) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
    const info = o.domain.info();
    const minPage = info.pageSizes[0] ?? BigInt(PAGE_SIZE);
    for (const [v, n] of [[iova, 'iova'], [vaddr, 'vaddr'], [size, 'size']] as const) {
      if (v % minPage !== 0n) fail('EINVAL', `${n} ${hex(v)} is not aligned to the smallest page size ${hex(minPage)}`);
    }
    if (!rangeHolding(info.permittedRanges, iova, size)) {
      fail('EINVAL', `iova range ${hex(iova)}+${hex(size)} is not inside one permitted range (${describeRanges(info.permittedRanges)})`);
    }
    o.maps.checkFree(iova, size);
    let chargedPages = 0;
    let region;
    if (!o.isSoftwareChild) {
      region = this.machine.vmm.region(vaddr, size);
      const regs = this.accounting.registrations;
      if (regs.length > 0 && !this.accounting.registrationHolding(vaddr, size)) {
        fail('EINVAL', `vaddr range ${hex(vaddr)}+${hex(size)} is not inside a registered range (REGISTER_MEMORY is in use)`);
      }
      if (regs.length === 0) {
        chargedPages = PinAccounting.pages(size);
        this.accounting.checkCharge(chargedPages, 'MAP_DMA');
      }
    }
    const m: DmaMapping = { iova, size, vaddr, prot, chargedPages };
    this.machine.injector.check('dma map');
    if (o.isSoftwareChild) {
      this.nesting.childMapped(o, m);
    } else {
      const first = Number((vaddr - region!.vaddr) >> BigInt(PAGE_SHIFT));
      // Pin: populate the pages first (ENOMEM if host memory cannot hold them); a later failure gives back what this call populated.
      const populated = region!.populate(first, PinAccounting.pages(size));
      try {
        o.domain.map(iova, size, region!.runs(first), prot);
      } catch (e) {
        region!.unpopulate(populated);
        throw e;
      }
      try {
        this.nesting.parentMapped(o, m);
      } catch (e) {
        o.domain.unmap(iova, size);
        region!.unpopulate(populated);
        throw e;
      }
      this.accounting.lockedPages += chargedPages;
    }
    o.maps.insert(m);
  }

  unmapDma(args: UnmapDmaArgs): bigint {
    const o = this.get(args?.ioasid);
    this.expect(o, 'map', 'UNMAP_DMA');
    this.groups(o);
    let victims: DmaMapping[];
    if (args.all === true) {
      if ('iova' in args || 'size' in args) fail('EINVAL', 'unmap-all takes no iova or size');
      victims = [...o.maps.all()];
    } else {
      const a = args as { iova: bigint; size: bigint };
      const iova = u64(a.iova, 'iova');
      const size = u64(a.size, 'size');
      if (size === 0n) fail('EINVAL', 'size must not be zero (use all: true to unmap everything)');
      const minPage = o.domain.info().pageSizes[0] ?? BigInt(PAGE_SIZE);
      if (iova % minPage !== 0n) fail('EINVAL', `iova ${hex(iova)} is not aligned to ${hex(minPage)}`);
      if (size % minPage !== 0n) fail('EINVAL', `size ${hex(size)} is not aligned to ${hex(minPage)}`);
      if (iova + size > 1n << 64n) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
      victims = o.maps.wholeMapsIn(iova, size);
    }
    let bytes = 0n;
    for (const m of victims) {
      this.removeMap(o, m);
      bytes += m.size;
    }
    return bytes;
  }

  private removeMap(o: IoasidObject, m: DmaMapping): void {
    if (o.isSoftwareChild) {
      this.nesting.childUnmapping(o, m);
    } else {
      this.nesting.parentUnmapping(o, m);
      o.domain.unmap(m.iova, m.size);
      this.accounting.lockedPages -= m.chargedPages;
    }
    o.maps.remove(m);
  }

  // ---- binding protocol ---------------------------------------------------------------------

  bindPgtable(args: { ioasid: number; addr: bigint; format: PgtableFormat }): void {
    const o = this.get(args?.ioasid);
    this.expect(o, 'user-pgtable', 'BIND_PGTABLE');
    this.groups(o);
    const addr = u64(args.addr, 'addr');
    pageAligned(addr, 'addr');
    checkFormat(args.format);
    if (!o.domain.bindPgtable) fail('EOPNOTSUPP', `the ${this.machine.vendor} driver cannot bind user page tables`);
    o.domain.bindPgtable(addr, args.format);
    o.bound = { addr, format: args.format };
  }

  bindPasidTable(args: { ioasid: number; addr: bigint; format: PgtableFormat }): void {
    const o = this.get(args?.ioasid);
    this.expect(o, 'user-pasid-table', 'BIND_PASID_TABLE');
    this.groups(o);
    const addr = u64(args.addr, 'addr');
    checkFormat(args.format);
    if (!o.domain.bindPasidTable) fail('EOPNOTSUPP', `the ${this.machine.vendor} driver cannot bind PASID tables`);
    o.domain.bindPasidTable(addr, args.format);
    o.bound = { addr, format: args.format };
  }

  invalidateCache(args: InvalidateArgs): void {
    const o = this.get(args?.ioasid);
    this.groups(o);
    let req: InvalidateRequest;
    const pasid = args.pasid;
    if (pasid !== undefined && (!Number.isInteger(pasid) || pasid < 0 || pasid >= 1 << 20)) {
      fail('EINVAL', `pasid must be an integer in [0, 2^20) (got ${String(pasid)})`);
    }
    if (args.all === true) {
      req = { all: true, pasid };
    } else {
      const a = args as { iova: bigint; size: bigint };
      const iova = u64(a.iova, 'iova');
      const size = u64(a.size, 'size');
      if (size === 0n) fail('EINVAL', 'size must not be zero (use all: true)');
      req = { iova, size, pasid };
    }
    o.domain.invalidate(req);
  }

  // ---- faults -------------------------------------------------------------------------------

  readFaults(ioasid: number): IoFault[] {
    return this.get(ioasid).faults.drain();
  }

  pageResponse(args: { ioasid: number; id: number; code: PageResponseCode }): void {
    const o = this.get(args?.ioasid);
    if (!['success', 'invalid', 'failure'].includes(args.code)) {
      fail('EINVAL', `code must be 'success', 'invalid' or 'failure' (got ${String(args.code)})`);
    }
    const f = o.faults.pending.get(args.id);
    if (!f) fail('ENOENT', `no pending page request with id ${String(args.id)} on IOASID ${o.id}`);
    o.faults.pending.delete(f.id);
    const dev = this.machine.device(f.device);
    const wire = f.record.pasid;
    this.machine.driver.pageResponse?.(dev.desc, wire ?? -1, f.record, args.code);
    dev.receivePageResponse({ pasid: f.pasid, iova: f.iova, code: args.code });
  }

  /** Routes a DMA fault to the IOASID the request was attached to. */
  reportFault(dev: Device, record: FaultRecord): void {
    const att = this.routeOf(dev, record.pasid);
    if (!att) return;
    const pageRequest = record.pageRequest === true && dev.desc.pri;
    att.ioasid.faults.push({
      id: this.nextFaultId++,
      ioasid: att.ioasid.id,
      label: dev.label,
      device: dev.name,
      pasid: att.userPasid,
      iova: record.iova,
      write: record.write,
      kind: pageRequest ? 'page-request' : 'unrecoverable',
      record,
    });
  }

  private routeOf(dev: Device, wirePasid: number | undefined): Attachment | undefined {
    const mine = this.attachmentsOf(dev);
    if (dev.kind === 'mdev') return top(mine.filter((a) => a.wirePasid === wirePasid));
    if (wirePasid === undefined || wirePasid < 0) return top(mine.filter((a) => a.userPasid === undefined));
    return top(mine.filter((a) => a.userPasid === wirePasid)) ?? top(mine.filter((a) => a.userPasid === undefined));
  }

  // ---- debug view ---------------------------------------------------------------------------

  dumpPgtable(ioasid: number): DomainDump {
    return this.get(ioasid).domain.dump();
  }

  lookup(ioasid: number, iova: bigint, options: { pasid?: number } = {}): LookupView {
    const o = this.get(ioasid);
    return o.domain.lookup(u64(iova, 'iova'), options.pasid);
  }

  // ---- devices (called from Device) -----------------------------------------------------------

  bindDevice(dev: Device, label: string): void {
    this.live();
    if ([...this.devices].some((d) => d.label === label)) fail('EEXIST', `label '${label}' is already used by another device on this fd`);
    this.machine.driver.probeDevice?.(dev.desc);
    dev.fd = this;
    dev.label = label;
    this.devices.add(dev);
  }

  unbindDevice(dev: Device): void {
    if (this.attachmentsOf(dev).length > 0) fail('EBUSY', `device ${dev.name} is still attached; detach it first`);
    this.machine.driver.releaseDevice?.(dev.desc);
    this.devices.delete(dev);
    dev.fd = undefined;
    dev.label = '';
  }

  attachmentsOf(dev: Device): Attachment[] {
    const out: Attachment[] = [];
    for (const o of this.ioasids.values()) for (const a of o.attachments) if (a.device === dev) out.push(a);
    return out;
  }

  /** Host PASID an mdev puts on the wire for its default space (undefined) or a vPASID. */
  mdevHostPasid(dev: Device, userPasid: number | undefined): number | undefined {
    return top(this.attachmentsOf(dev).filter((a) => a.userPasid === userPasid))?.wirePasid;
  }

  attachDevice(dev: Device, ioasid: number, userPasid: number | undefined): void {
    const o = this.get(ioasid);
    if (userPasid !== undefined && (!Number.isInteger(userPasid) || userPasid < 0 || userPasid >= 1 << 20)) {
      fail('EINVAL', `userPasid must be an integer in [0, 2^20) (got ${String(userPasid)})`);
    }
    const caps = this.machine.driver.capabilities(dev.desc);
    if (userPasid !== undefined && userPasid >= 2 ** caps.pasidBits) {
      fail('ERANGE', `userPasid ${userPasid} exceeds the ${caps.pasidBits}-bit PASID width of device ${dev.name}`);
    }
    const mine = this.attachmentsOf(dev);
    if (mine.some((a) => a.ioasid === o && a.userPasid === userPasid)) {
      fail('EBUSY', `device ${dev.name} is already attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
    }
    const below = top(mine.filter((a) => a.userPasid === userPasid));
    if (o.parent) {
      if (!mine.some((a) => a.ioasid === o.parent && a.userPasid === undefined)) {
        fail('EINVAL', `device ${dev.name} must be attached to the parent IOASID ${o.parent.id} before its nested child ${ioasid}`);
      }
      if (below && below.ioasid !== o.parent) {
        fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}`);
      }
    } else if (below) {
      fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}; detach it first`);
    }
    if (o.protocol === 'user-pasid-table' && mine.some((a) => a.ioasid.protocol === 'user-pasid-table')) {
      fail('EBUSY', `device ${dev.name} is already attached to a PASID-table IOASID (one per device)`);
    }
    if (dev.kind === 'pdev' && userPasid !== undefined && dev.desc.enqcmd && this.machine.kvm.hasMappings) {
      fail('EBUSY', `KVM already translates guest PASIDs for ENQCMD on mdevs; exposing ENQCMD on pdev ${dev.name} too is refused`);
    }
    const permitted = o.domain.permittedAfterAttach?.(dev.desc) ?? caps.permittedRanges;
    for (const m of o.maps.all()) {
      if (!rangeHolding(permitted, m.iova, m.size)) {
        fail('EINVAL', `IOASID ${ioasid} maps ${hex(m.iova)}+${hex(m.size)}, outside what device ${dev.name} permits`);
      }
    }
    if (dev.kind === 'pdev') {
      const reason = o.domain.checkAttach(dev.desc, userPasid, below?.ioasid.domain);
      if (reason) fail('EINVAL', `device ${dev.name} cannot attach to IOASID ${ioasid}: ${reason}`);
    }
    // Validated; now allocate and apply, undoing on failure.
    this.machine.injector.check('attachment');
    let wirePasid = userPasid;
    let ownsPasid = false;
    if (dev.kind === 'mdev') {
      if (dev.desc.enqcmd) {
        wirePasid = this.globalPasid(o);
      } else {
        wirePasid = this.machine.pasids.alloc();
        ownsPasid = true;
      }
    }
    const att: Attachment = { device: dev, ioasid: o, userPasid, wirePasid, ownsPasid };
    try {
      if (dev.kind === 'mdev') {
        const reason = o.domain.checkAttach(dev.desc, wirePasid, below?.wirePasid === wirePasid ? below?.ioasid.domain : undefined);
        if (reason) fail('EINVAL', `device ${dev.name} cannot attach to IOASID ${ioasid}: ${reason}`);
      }
      // A nested child takes the route over from the attachment below it in one step.
      o.domain.attach(dev.desc, wirePasid, below && below.wirePasid === wirePasid ? below.ioasid.domain : undefined);
    } catch (e) {
      this.releasePasid(o, att);
      throw e;
    }
    o.attachments.push(att);
  }

  private globalPasid(o: IoasidObject): number {
    if (o.globalPasid === undefined) o.globalPasid = this.machine.pasids.alloc();
    o.globalPasidUsers++;
    return o.globalPasid;
  }

  /** The host PASID of an IOASID for KVM's PASID translation (ioasid_get_global_pasid). */
  getGlobalPasid(ioasid: number): number {
    return this.globalPasid(this.get(ioasid));
  }

  putGlobalPasid(ioasid: number): void {
    const o = this.ioasids.get(ioasid);
    if (o && o.globalPasid !== undefined && --o.globalPasidUsers === 0) {
      this.machine.pasids.free(o.globalPasid);
      o.globalPasid = undefined;
    }
  }

  private releasePasid(o: IoasidObject, a: Attachment): void {
    if (a.ownsPasid && a.wirePasid !== undefined) this.machine.pasids.free(a.wirePasid);
    else if (a.device.kind === 'mdev' && a.device.desc.enqcmd) this.putGlobalPasid(o.id);
  }

  detachDevice(dev: Device, ioasid: number, userPasid: number | undefined): void {
    const o = this.get(ioasid);
    const att = o.attachments.find((a) => a.device === dev && a.userPasid === userPasid);
    if (!att) fail('EINVAL', `device ${dev.name} is not attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
    const mine = this.attachmentsOf(dev);
    const stacked = mine.find((a) => a.ioasid.parent === o && a.userPasid === undefined);
    if (userPasid === undefined && mine.some((a) => a.ioasid.parent === o)) {
      fail('EBUSY', `device ${dev.name} is still attached to IOASID ${(stacked ?? mine.find((a) => a.ioasid.parent === o))!.ioasid.id}, nested in ${ioasid}; detach that first`);
    }
    // What was routed below this attachment (the parent, for a nested child) takes over again.
    const stack = mine.filter((a) => a.userPasid === userPasid);
    const isTop = stack[stack.length - 1] === att;
    const below = isTop ? stack[stack.length - 2] : undefined;
    o.domain.detach(dev.desc, att.wirePasid, below && below.wirePasid === att.wirePasid ? below.ioasid.domain : undefined);
    o.attachments.splice(o.attachments.indexOf(att), 1);
    this.releasePasid(o, att);
  }

  // ---- close ----------------------------------------------------------------------------------

  /** Releases everything: attachments, address spaces, registrations, device bindings. */
  close(): void {
    if (this.closed) return;
    const all = [...this.ioasids.values()];
    const ordered = [...all.filter((o) => o.parent), ...all.filter((o) => !o.parent)];
    for (const o of ordered) {
      for (const a of [...o.attachments].reverse()) this.detachDevice(a.device, o.id, a.userPasid);
    }
    for (const o of ordered) this.destroy(o);
    this.accounting.registrations.length = 0;
    this.accounting.lockedPages = 0;
    for (const d of [...this.devices]) this.unbindDevice(d);
    this.closed = true;
    this.machine.fds.delete(this);
  }

  // ---- a read-only description (for tools and tests) ----------------------------------------

  /**
   * What this fd holds, as plain data: every IOASID with its protocol, nesting, maps, attachments
   * and binding, the bound devices, and the pinned-page accounting. Reading it changes nothing.
   */
  describe(): FdDescription {
    this.live();
    return {
      ioasids: [...this.ioasids.values()].map((o) => ({
        id: o.id,
        protocol: o.protocol,
        nesting: o.nesting,
        parent: o.parent?.id,
        children: [...o.children].map((c) => c.id),
        maps: o.maps.all().map((m) => ({ iova: m.iova, size: m.size, vaddr: m.vaddr, read: (m.prot & PROT_READ) !== 0, write: (m.prot & PROT_WRITE) !== 0 })),
        attachments: o.attachments.map((a) => ({ device: a.device.name, userPasid: a.userPasid, wirePasid: a.wirePasid })),
        bound: o.bound ? { addr: o.bound.addr, format: { ...o.bound.format } } : undefined,
      })),
      devices: [...this.devices].map((d) => ({ name: d.name, label: d.label })),
      lockedPages: this.accounting.lockedPages,
      registrations: this.accounting.registrations.map((r) => ({ vaddr: r.vaddr, size: r.size })),
    };
  }

  // ---- the ioctl dispatcher -------------------------------------------------------------------

  /** Dispatches a command by its proposal number (trace replay, scenario files). */
  ioctl(command: number, arg?: unknown): unknown {
    const a = arg as never;
    switch (command) {
      case cmd.IOASID_CHECK_EXTENSION:
        return this.checkExtension(a);
      case cmd.IOASID_REGISTER_MEMORY:
        return this.registerMemory(a);
      case cmd.IOASID_UNREGISTER_MEMORY:
        return this.unregisterMemory(a);
      case cmd.IOASID_ALLOC:
        return this.alloc(a);
      case cmd.IOASID_FREE:
        return this.free(typeof arg === 'object' && arg !== null ? (arg as { ioasid: number }).ioasid : (arg as number));
      case cmd.IOASID_GET_INFO:
        return this.getInfo(typeof arg === 'object' && arg !== null ? (arg as { ioasid: number }).ioasid : (arg as number));
      case cmd.IOASID_MAP_DMA:
        return this.mapDma(a);
      case cmd.IOASID_UNMAP_DMA:
        return this.unmapDma(a);
      case cmd.IOASID_CREATE_NESTING:
        return this.createNesting(a);
      case cmd.IOASID_BIND_PGTABLE:
        return this.bindPgtable(a);
      case cmd.IOASID_BIND_PASID_TABLE:
        return this.bindPasidTable(a);
      case cmd.IOASID_INVALIDATE_CACHE:
        return this.invalidateCache(a);
      case cmd.IOASID_READ_FAULTS:
        return this.readFaults(typeof arg === 'object' && arg !== null ? (arg as { ioasid: number }).ioasid : (arg as number));
      case cmd.IOASID_PAGE_RESPONSE:
        return this.pageResponse(a);
      case cmd.IOASID_DUMP_PGTABLE:
        return this.dumpPgtable(typeof arg === 'object' && arg !== null ? (arg as { ioasid: number }).ioasid : (arg as number));
      case cmd.IOASID_LOOKUP: {
        const l = arg as { ioasid: number; iova: bigint; pasid?: number };
        return this.lookup(l?.ioasid, l?.iova, { pasid: l?.pasid });
      }
      case cmd.IOASID_UNBIND_PGTABLE:
      case cmd.IOASID_UNBIND_PASID_TABLE:
        fail('EOPNOTSUPP', 'UNBIND was withdrawn in v2 of the proposal: FREE the IOASID to unbind');
      // falls through (fail never returns)
      default:
        fail('EINVAL', `unknown ioctl command 0x${Number(command).toString(16)}`);
    }
  }
}

function top<T>(list: T[]): T | undefined {
  return list[list.length - 1];
}

function pageAligned(v: bigint, name: string): void {
  if (v % BigInt(PAGE_SIZE) !== 0n) fail('EINVAL', `${name} ${hex(v)} is not 4 KiB aligned`);
}

function checkProtocol(protocol: unknown): asserts protocol is Protocol {
  if (!PROTOCOLS.includes(protocol as Protocol)) {
    fail('EINVAL', `protocol must be one of ${PROTOCOLS.map((p) => `'${p}'`).join(', ')} (got ${String(protocol)})`);
  }
}

function checkFormat(format: unknown): asserts format is PgtableFormat {
  if (typeof format !== 'object' || format === null || typeof (format as PgtableFormat).kind !== 'string') {
    fail('EINVAL', 'format must be an object with a kind, one of those GET_INFO lists');
  }
}

function uniqueDevices(atts: Attachment[]): Device[] {
  return [...new Set(atts.map((a) => a.device))];
}

function describeRanges(r: { start: bigint; last: bigint }[]): string {
  return r.length === 0 ? 'none' : r.map((x) => `${hex(x.start)}-${hex(x.last)}`).join(', ');
}

const NESTING_ORDER: NestingKind[] = ['none', 'software', 'hardware'];

function sameFormat(a: PgtableFormat, b: PgtableFormat): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function intersectInfo(a: IoasidInfo, b: IoasidInfo): IoasidInfo {
  return {
    protocols: a.protocols.filter((p) => b.protocols.includes(p)),
    nesting: NESTING_ORDER[Math.min(NESTING_ORDER.indexOf(a.nesting), NESTING_ORDER.indexOf(b.nesting))],
    pageSizes: a.pageSizes.filter((s) => b.pageSizes.includes(s)),
    permittedRanges: intersectRanges(a.permittedRanges, b.permittedRanges),
    formats: a.formats.filter((f) => b.formats.some((g) => sameFormat(f, g))),
    pasidTableFormats: a.pasidTableFormats.filter((f) => b.pasidTableFormats.some((g) => sameFormat(f, g))),
    pasidBits: Math.min(a.pasidBits, b.pasidBits),
    coherent: a.coherent && b.coherent,
    enqcmd: a.enqcmd && b.enqcmd,
    pageRequest: a.pageRequest && b.pageRequest,
    ats: a.ats && b.ats,
  };
}
