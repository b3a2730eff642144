import { fail, type FaultRecord } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { IoasidInfo, NestingKind, PgtableFormat, Protocol } from './info.js';
import type { DomainDump, IommuDomain, InvalidateRequest, LookupView, PageResponseCode } from '../driver/driver.js';
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
import { AttachIndex, topologyOf } from '../rules/groups.js';
import { IdAllocator } from '../rules/id-allocator.js';
import { argObject, copyOut, ioasidArg, onlyKeys, optionalBool, optionsArg, pasidArg, plainData, show, type Args } from './validate.js';

/**
 * IOASID numbers of one fd: 1 … IOASID_LIMIT − 1 (1,048,575 address spaces alive at once; one
 * more ALLOC / CREATE_NESTING → ENOSPC, checked before anything is allocated). Numbers are handed
 * out in ascending order until the space has been used once; after that the oldest freed number
 * comes back first (IdAllocator), so a live IOASID never shares its number and a just-freed
 * number is not reused at once. Wider than any vendor ID space a domain consumes (VT-d DIDs,
 * SMMU VMIDs/ASIDs: 2^16), so those report their own ENOSPC first.
 */
export const IOASID_LIMIT = 1 << 20;

/** Fields of each command's argument object (anything else → EINVAL naming it). */
const FIELDS = {
  REGISTER_MEMORY: ['vaddr', 'size'],
  MAP_DMA: ['ioasid', 'iova', 'vaddr', 'size', 'read', 'write'],
  UNMAP_DMA: ['ioasid', 'iova', 'size', 'all'],
  BIND: ['ioasid', 'addr', 'format'],
  INVALIDATE_CACHE: ['ioasid', 'all', 'iova', 'size', 'pasid'],
  PAGE_RESPONSE: ['ioasid', 'id', 'code'],
  LOOKUP: ['ioasid', 'iova', 'pasid'],
} as const;
const U64_END = 1n << 64n;

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
  private readonly ids: IdAllocator;
  /** Devices and group members each IOASID holds (the group rule, GET_INFO). */
  private readonly held: AttachIndex;
  private nextFaultId = 1;
  readonly devices = new Set<Device>();
  readonly accounting: PinAccounting;
  private readonly nesting: SoftwareNesting;

  /**
   * `machine.openIoasidFd()` is how an fd is opened. `options.ioasidLimit` (2 … IOASID_LIMIT)
   * makes the IOASID number space smaller, for tools and tests that exercise ENOSPC.
   */
  constructor(
    readonly machine: Machine,
    options: { ioasidLimit?: number } = {},
  ) {
    const limit = options.ioasidLimit ?? IOASID_LIMIT;
    if (!Number.isInteger(limit) || limit < 2 || limit > IOASID_LIMIT) fail('EINVAL', `ioasidLimit must be an integer in [2, ${IOASID_LIMIT}] (got ${show(limit)})`);
    this.ids = new IdAllocator(1, limit, 'IOASID');
    this.accounting = new PinAccounting(Number(machine.memlockLimit >> BigInt(PAGE_SHIFT)));
    this.nesting = new SoftwareNesting(machine.vmm);
    this.held = new AttachIndex(topologyOf(machine));
  }

  // ---- lookup helpers (order of checks: DESIGN §9) ----------------------------------------

  private live(): void {
    if (this.closed) fail('EBADF', 'the IOASID fd is closed');
  }

  /** An IOASID by number: EBADF on a closed fd, EINVAL if `ioasid` is not a number at all, ENOENT if unknown. */
  private get(ioasid: unknown, name = 'ioasid'): IoasidObject {
    this.live();
    const o = this.ioasids.get(ioasidArg(ioasid, name));
    if (!o) fail('ENOENT', `${name} ${String(ioasid)} does not exist in this fd`);
    return o;
  }

  /** The argument object of a command: EBADF on a closed fd first, then EINVAL if it is not one. */
  private args(value: unknown, command: string): Args {
    this.live();
    return argObject(value, `${command} arguments`);
  }

  /** `dev` is a device of this machine bound to this fd (internal calls; EINVAL otherwise). */
  private bound(dev: Device): void {
    if (!topologyOf(this.machine).has(dev) || dev.fd !== this) fail('EINVAL', `${show(dev)} is not a device bound to this IOASID fd`);
  }

  private expect(o: IoasidObject, protocol: Protocol, command: string): void {
    if (o.protocol !== protocol) {
      fail('EOPNOTSUPP', `${command} needs a '${protocol}' IOASID; IOASID ${o.id} was allocated with protocol '${o.protocol}'`);
    }
  }

  private groups(o: IoasidObject): void {
    this.held.checkGroups(o);
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
    if (typeof ext !== 'string') fail('EINVAL', `ext must be an extension name (a string), got ${show(ext)}`);
    return (IOASID_EXTENSIONS as readonly string[]).includes(ext) && ext !== 'dirty-tracking' ? 1 : 0;
  }

  registerMemory(args: { vaddr: bigint; size: bigint }): void {
    const a = this.args(args, 'REGISTER_MEMORY');
    onlyKeys(a, FIELDS.REGISTER_MEMORY, 'REGISTER_MEMORY');
    const vaddr = u64(a.vaddr, 'vaddr');
    const size = u64(a.size, 'size');
    pageAligned(vaddr, 'vaddr');
    if (size === 0n) fail('EINVAL', 'size must not be zero');
    if (vaddr + size > U64_END) fail('EOVERFLOW', `vaddr ${hex(vaddr)} + size ${hex(size)} wraps past 2^64`);
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
    const a = this.args(args, 'UNREGISTER_MEMORY');
    onlyKeys(a, FIELDS.REGISTER_MEMORY, 'UNREGISTER_MEMORY');
    const vaddr = u64(a.vaddr, 'vaddr');
    const size = u64(a.size, 'size');
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
    const { protocol, ...rest } = this.args(args, 'ALLOC');
    checkProtocol(protocol);
    if (protocol !== 'map') {
      fail('EINVAL', `protocol '${protocol}' binds a user table that the hardware walks through a parent: create it with CREATE_NESTING`);
    }
    const format = this.vendorFormat(rest, protocol, 'ALLOC');
    this.checkIdSpace();
    const domain = this.machine.driver.createDomain({ protocol, format });
    return this.insert(domain, (id) => new IoasidObject(id, protocol, format, domain, undefined, 'none'));
  }

  /**
   * The vendor format fields of ALLOC / CREATE_NESTING: only those the driver declares for the
   * protocol (IommuDriver.allocFormatKeys), as a deep copy the caller can no longer change.
   */
  private vendorFormat(rest: Args, protocol: Protocol, command: string): Readonly<Record<string, unknown>> {
    const allowed = this.machine.driver.allocFormatKeys?.[protocol] ?? [];
    for (const key of Object.keys(rest)) {
      if (!allowed.includes(key)) {
        fail('EINVAL', `${command}: the ${this.machine.vendor} driver takes no format field '${key}' for protocol '${protocol}' (it takes ${allowed.length ? allowed.join(', ') : 'none'})`);
      }
    }
    return plainData(rest, 'format') as Record<string, unknown>;
  }

  private checkIdSpace(): void {
    if (this.ids.available === 0) fail('ENOSPC', `all ${this.ids.capacity} IOASID numbers of this fd are in use (IOASID_LIMIT)`);
  }

  /**
   * Registers an address space whose domain the driver just built. The IOASID's own bookkeeping
   * is the last thing allocated (an injected failure gives the domain back), and its number is
   * taken once nothing can fail any more.
   */
  private insert(domain: IommuDomain, make: (id: number) => IoasidObject, parent?: IoasidObject): number {
    try {
      this.machine.injector.check('ioasid');
    } catch (e) {
      domain.destroy();
      throw e;
    }
    const o = make(this.ids.alloc());
    parent?.children.add(o);
    this.ioasids.set(o.id, o);
    return o.id;
  }

  createNesting(args: { parent: number } & AllocArgs): number {
    const a = this.args(args, 'CREATE_NESTING');
    const parent = this.get(a.parent, 'parent');
    this.expect(parent, 'map', 'CREATE_NESTING (parent)');
    this.groups(parent);
    const { parent: _p, protocol, ...rest } = a;
    checkProtocol(protocol);
    if (parent.parent) fail('EINVAL', `parent ${parent.id} is itself nested in ${parent.parent.id}; only one level of nesting is modelled`);
    this.checkNestingSupport(protocol);
    const format = this.vendorFormat(rest, protocol, 'CREATE_NESTING');
    this.checkIdSpace();
    let nesting: NestingKind;
    let domain: IommuDomain;
    if (protocol === 'map') {
      nesting = 'software';
      domain = this.machine.driver.createDomain({ protocol, format });
    } else {
      nesting = 'hardware';
      domain = this.machine.driver.createDomain({ protocol, format, parent: parent.domain });
    }
    return this.insert(domain, (id) => new IoasidObject(id, protocol, format, domain, parent, nesting), parent);
  }

  /**
   * Software nesting ('map') is core's and always there; a binding protocol needs the vendor:
   * some device of the machine must list it in GET_INFO, else EOPNOTSUPP before anything is allocated.
   */
  private checkNestingSupport(protocol: Protocol): void {
    if (protocol === 'map') return;
    const offered = this.machine.deviceList.some((d) => {
      try {
        return this.machine.driver.capabilities(d.desc).protocols.includes(protocol);
      } catch {
        return false;
      }
    });
    if (!offered) fail('EOPNOTSUPP', `the ${this.machine.vendor} driver offers no '${protocol}' protocol (no device lists it in GET_INFO): no hardware nesting of that kind`);
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
    this.held.forget(o);
    this.ids.free(o.id);
  }

  // ---- GET_INFO -----------------------------------------------------------------------------

  /** GET_INFO of an IOASID (§3): a copy the caller owns. */
  getInfo(ioasid: number): IoasidInfo {
    return copyOut(this.info(this.get(ioasid)));
  }

  private info(o: IoasidObject): IoasidInfo {
    const own = o.domain.info();
    const devs = this.held.devices(o);
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
    const a = this.args(args, 'MAP_DMA');
    const o = this.get(a.ioasid);
    this.expect(o, 'map', 'MAP_DMA');
    this.groups(o);
    onlyKeys(a, FIELDS.MAP_DMA, 'MAP_DMA');
    const iova = u64(a.iova, 'iova');
    const vaddrName = o.isSoftwareChild ? 'vaddr (parent IOVA)' : 'vaddr';
    const vaddr = u64(a.vaddr, vaddrName);
    const size = u64(a.size, 'size');
    const read = optionalBool(a.read, 'read');
    const write = optionalBool(a.write, 'write');
    const prot = (read === false ? 0 : PROT_READ) | (write === false ? 0 : PROT_WRITE);
    if (prot === 0) fail('EINVAL', 'a map must allow read or write');
    if (size === 0n) fail('EINVAL', 'size must not be zero');
    if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
    if (vaddr + size > U64_END) fail('EOVERFLOW', `${vaddrName} ${hex(vaddr)} + size ${hex(size)} wraps past 2^64`);
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
    const a = this.args(args, 'UNMAP_DMA');
    const o = this.get(a.ioasid);
    this.expect(o, 'map', 'UNMAP_DMA');
    this.groups(o);
    onlyKeys(a, FIELDS.UNMAP_DMA, 'UNMAP_DMA');
    let victims: DmaMapping[];
    if (optionalBool(a.all, 'all') === true) {
      if ('iova' in a || 'size' in a) fail('EINVAL', 'unmap-all takes no iova or size');
      victims = [...o.maps.all()];
    } else {
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
    const a = this.args(args, 'BIND_PGTABLE');
    const o = this.get(a.ioasid);
    this.expect(o, 'user-pgtable', 'BIND_PGTABLE');
    this.groups(o);
    onlyKeys(a, FIELDS.BIND, 'BIND_PGTABLE');
    const addr = u64(a.addr, 'addr');
    pageAligned(addr, 'addr');
    const format = this.bindFormat(o, a.format, 'formats');
    if (!o.domain.bindPgtable) fail('EOPNOTSUPP', `the ${this.machine.vendor} driver cannot bind user page tables`);
    o.domain.bindPgtable(addr, format);
    o.bound = { addr, format };
  }

  bindPasidTable(args: { ioasid: number; addr: bigint; format: PgtableFormat }): void {
    const a = this.args(args, 'BIND_PASID_TABLE');
    const o = this.get(a.ioasid);
    this.expect(o, 'user-pasid-table', 'BIND_PASID_TABLE');
    this.groups(o);
    onlyKeys(a, FIELDS.BIND, 'BIND_PASID_TABLE');
    const addr = u64(a.addr, 'addr');
    const format = this.bindFormat(o, a.format, 'pasidTableFormats');
    if (!o.domain.bindPasidTable) fail('EOPNOTSUPP', `the ${this.machine.vendor} driver cannot bind PASID tables`);
    o.domain.bindPasidTable(addr, format);
    o.bound = { addr, format };
  }

  /**
   * A bindable format as the user passed it, checked against GET_INFO: plain data with a `kind`
   * that GET_INFO lists for this IOASID, and exactly the fields of a listed format of that kind
   * (a missing or extra field → EINVAL naming it). The vendor then checks the values. Before
   * any device is attached the IOASID's GET_INFO lists nothing, so the formats the machine's
   * devices offer stand in. Returns a private deep copy.
   */
  private bindFormat(o: IoasidObject, value: unknown, list: 'formats' | 'pasidTableFormats'): PgtableFormat {
    const f = plainData(value, 'format');
    if (typeof f !== 'object' || f === null || Array.isArray(f) || typeof (f as PgtableFormat).kind !== 'string') {
      fail('EINVAL', 'format must be an object with a kind, one of those GET_INFO lists');
    }
    const format = f as PgtableFormat;
    const listed = this.listedFormats(o, list);
    const sameKind = listed.filter((g) => g.kind === format.kind);
    if (sameKind.length === 0) {
      const kinds = [...new Set(listed.map((g) => g.kind))];
      fail('EINVAL', `format.kind '${format.kind}' is not among the ${list} GET_INFO lists for IOASID ${o.id} (${kinds.length ? kinds.join(', ') : 'none'})`);
    }
    const keys = Object.keys(format);
    if (!sameKind.some((g) => sameKeys(keys, Object.keys(g)))) {
      const want = Object.keys(sameKind[0]);
      const missing = want.find((k) => !keys.includes(k));
      if (missing !== undefined) fail('EINVAL', `format.${missing} is missing: a '${format.kind}' format has the fields ${want.join(', ')}`);
      const extra = keys.find((k) => !want.includes(k));
      fail('EINVAL', `format.${extra} is not a field of a '${format.kind}' format (its fields: ${want.join(', ')})`);
    }
    return format;
  }

  private listedFormats(o: IoasidObject, list: 'formats' | 'pasidTableFormats'): PgtableFormat[] {
    if (this.held.devices(o).length > 0) return this.info(o)[list];
    const out: PgtableFormat[] = [];
    for (const d of this.machine.deviceList) {
      try {
        out.push(...this.machine.driver.capabilities(d.desc)[list]);
      } catch {
        // a device the vendor cannot describe offers nothing
      }
    }
    return out;
  }

  invalidateCache(args: InvalidateArgs): void {
    const a = this.args(args, 'INVALIDATE_CACHE');
    const o = this.get(a.ioasid);
    this.groups(o);
    onlyKeys(a, FIELDS.INVALIDATE_CACHE, 'INVALIDATE_CACHE');
    let req: InvalidateRequest;
    const pasid = a.pasid === undefined ? undefined : pasidArg(a.pasid, 'pasid');
    if (optionalBool(a.all, 'all') === true) {
      if ('iova' in a || 'size' in a) fail('EINVAL', 'an invalidation of all takes no iova or size');
      req = { all: true, pasid };
    } else {
      const iova = u64(a.iova, 'iova');
      const size = u64(a.size, 'size');
      if (size === 0n) fail('EINVAL', 'size must not be zero (use all: true)');
      if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
      req = { iova, size, pasid };
    }
    o.domain.invalidate(req);
  }

  // ---- faults -------------------------------------------------------------------------------

  /** READ_FAULTS: the unread faults, oldest first, as copies (the pending page requests stay the fd's). */
  readFaults(ioasid: number): IoFault[] {
    return copyOut(this.get(ioasid).faults.drain());
  }

  pageResponse(args: { ioasid: number; id: number; code: PageResponseCode }): void {
    const a = this.args(args, 'PAGE_RESPONSE');
    const o = this.get(a.ioasid);
    onlyKeys(a, FIELDS.PAGE_RESPONSE, 'PAGE_RESPONSE');
    const code = a.code as PageResponseCode;
    if (!['success', 'invalid', 'failure'].includes(code)) {
      fail('EINVAL', `code must be 'success', 'invalid' or 'failure' (got ${show(code)})`);
    }
    const id = a.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) fail('EINVAL', `id must be the id of a page request READ_FAULTS returned (got ${show(id)})`);
    const f = o.faults.pending.get(id);
    if (!f) fail('ENOENT', `no pending page request with id ${id} on IOASID ${o.id}`);
    o.faults.pending.delete(f.id);
    const dev = this.machine.device(f.device);
    const wire = f.record.pasid;
    this.machine.driver.pageResponse?.(dev.desc, wire ?? -1, f.record, code);
    dev.receivePageResponse({ pasid: f.pasid, iova: f.iova, code });
  }

  /** Routes a DMA fault to the IOASID the request was attached to. */
  reportFault(dev: Device, record: FaultRecord): void {
    if (!topologyOf(this.machine).has(dev)) return;
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
    if (dev.fd !== this) return undefined;
    const r = dev.routes;
    if (dev.kind === 'mdev') return wirePasid === undefined || wirePasid < 0 ? undefined : r.onWire(wirePasid);
    if (wirePasid === undefined || wirePasid < 0) return r.top(undefined);
    return r.top(wirePasid) ?? r.top(undefined);
  }

  // ---- debug view ---------------------------------------------------------------------------

  dumpPgtable(ioasid: number): DomainDump {
    return this.get(ioasid).domain.dump();
  }

  lookup(ioasid: number, iova: bigint, options: { pasid?: number } = {}): LookupView {
    const o = this.get(ioasid);
    const at = u64(iova, 'iova');
    const opts = optionsArg(options, 'options', ['pasid']);
    return o.domain.lookup(at, opts.pasid === undefined ? undefined : pasidArg(opts.pasid, 'options.pasid'));
  }

  // ---- devices (called from Device) -----------------------------------------------------------

  bindDevice(dev: Device, label: string): void {
    this.live();
    if (!topologyOf(this.machine).has(dev) || dev.fd !== undefined) fail('EINVAL', `${show(dev)} is not an unbound device of this machine`);
    if (typeof label !== 'string' || label === '') fail('EINVAL', `label must be a non-empty string (got ${show(label)})`);
    topologyOf(this.machine).checkBind(dev, this);
    if ([...this.devices].some((d) => d.label === label)) fail('EEXIST', `label '${label}' is already used by another device on this fd`);
    this.machine.driver.probeDevice?.(dev.desc);
    dev.fd = this;
    dev.label = label;
    this.devices.add(dev);
  }

  unbindDevice(dev: Device): void {
    this.bound(dev);
    if (dev.routes.count > 0) fail('EBUSY', `device ${dev.name} is still attached; detach it first`);
    this.machine.driver.releaseDevice?.(dev.desc);
    this.devices.delete(dev);
    dev.fd = undefined;
    dev.label = '';
  }

  /** The attachments of a device bound to this fd (RID stack first, then its vPASIDs). */
  attachmentsOf(dev: Device): Attachment[] {
    return topologyOf(this.machine).has(dev) && dev.fd === this ? dev.routes.all() : [];
  }

  /** Host PASID an mdev puts on the wire for its default space (undefined) or a vPASID. */
  mdevHostPasid(dev: Device, userPasid: number | undefined): number | undefined {
    return topologyOf(this.machine).has(dev) && dev.fd === this ? dev.routes.top(userPasid)?.wirePasid : undefined;
  }

  attachDevice(dev: Device, ioasid: number, userPasid: number | undefined): void {
    this.bound(dev);
    const o = this.get(ioasid);
    if (userPasid !== undefined) pasidArg(userPasid, 'userPasid');
    const caps = this.machine.driver.capabilities(dev.desc);
    if (userPasid !== undefined && userPasid >= 2 ** caps.pasidBits) {
      fail('ERANGE', `userPasid ${userPasid} exceeds the ${caps.pasidBits}-bit PASID width of device ${dev.name}`);
    }
    const routes = dev.routes;
    if (routes.find(o, userPasid)) {
      fail('EBUSY', `device ${dev.name} is already attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
    }
    const stack = routes.stack(userPasid);
    const below = stack[stack.length - 1];
    if (o.parent) {
      if (!routes.find(o.parent, undefined)) {
        fail('EINVAL', `device ${dev.name} must be attached to the parent IOASID ${o.parent.id} before its nested child ${ioasid}`);
      }
      if (below && below.ioasid !== o.parent) {
        fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}`);
      }
    } else if (below) {
      fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}; detach it first`);
    }
    // The group's RID traffic goes to one IOASID (EINVAL); a PASID attachment is the device's own.
    if (userPasid === undefined) topologyOf(this.machine).checkGroupAttach(dev, o, stack, (d) => d.routes.stack(undefined));
    if (o.protocol === 'user-pasid-table' && routes.hasPasidTable) {
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
    dev.routes.add(att);
    this.held.added(att);
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
    this.bound(dev);
    const o = this.get(ioasid);
    if (userPasid !== undefined) pasidArg(userPasid, 'userPasid');
    const routes = dev.routes;
    const att = routes.find(o, userPasid);
    if (!att) fail('EINVAL', `device ${dev.name} is not attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
    if (userPasid === undefined && routes.nestedIn(o) > 0) {
      const all = routes.all().filter((a) => a.ioasid.parent === o);
      const stacked = all.find((a) => a.userPasid === undefined) ?? all[0];
      fail('EBUSY', `device ${dev.name} is still attached to IOASID ${stacked.ioasid.id}, nested in ${ioasid}; detach that first`);
    }
    // What was routed below this attachment (the parent, for a nested child) takes over again.
    const stack = routes.stack(userPasid);
    const isTop = stack[stack.length - 1] === att;
    const below = isTop ? stack[stack.length - 2] : undefined;
    o.domain.detach(dev.desc, att.wirePasid, below && below.wirePasid === att.wirePasid ? below.ioasid.domain : undefined);
    o.attachments.splice(o.attachments.lastIndexOf(att), 1);
    routes.remove(att);
    this.held.removed(att);
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
   * and binding, the bound devices, and the pinned-page accounting. Reading it changes nothing,
   * and what it returns is the caller's own copy (nothing in it is shared with the fd or the user).
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
        bound: o.bound ? { addr: o.bound.addr, format: copyOut(o.bound.format) } : undefined,
      })),
      devices: [...this.devices].map((d) => ({ name: d.name, label: d.label })),
      lockedPages: this.accounting.lockedPages,
      registrations: this.accounting.registrations.map((r) => ({ vaddr: r.vaddr, size: r.size })),
    };
  }

  // ---- the ioctl dispatcher -------------------------------------------------------------------

  /**
   * Dispatches a command by its proposal number (trace replay, scenario files). Commands that
   * name one IOASID (FREE, GET_INFO, READ_FAULTS, DUMP_PGTABLE) take the number or `{ ioasid }`.
   */
  ioctl(command: number, arg?: unknown): unknown {
    if (typeof command !== 'number' || !Number.isInteger(command)) fail('EINVAL', `command must be an ioctl number (got ${show(command)})`);
    this.live();
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
        return this.free(this.ioasidIn(arg, 'IOASID_FREE'));
      case cmd.IOASID_GET_INFO:
        return this.getInfo(this.ioasidIn(arg, 'IOASID_GET_INFO'));
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
        return this.readFaults(this.ioasidIn(arg, 'IOASID_READ_FAULTS'));
      case cmd.IOASID_PAGE_RESPONSE:
        return this.pageResponse(a);
      case cmd.IOASID_DUMP_PGTABLE:
        return this.dumpPgtable(this.ioasidIn(arg, 'IOASID_DUMP_PGTABLE'));
      case cmd.IOASID_LOOKUP: {
        const l = this.args(arg, 'IOASID_LOOKUP');
        this.get(l.ioasid);
        onlyKeys(l, FIELDS.LOOKUP, 'IOASID_LOOKUP');
        return this.lookup(l.ioasid as number, l.iova as bigint, l.pasid === undefined ? {} : { pasid: l.pasid as number });
      }
      case cmd.IOASID_UNBIND_PGTABLE:
      case cmd.IOASID_UNBIND_PASID_TABLE:
        fail('EOPNOTSUPP', 'UNBIND was withdrawn in v2 of the proposal: FREE the IOASID to unbind');
      // falls through (fail never returns)
      default:
        fail('EINVAL', `unknown ioctl command 0x${command.toString(16)}`);
    }
  }

  /** The IOASID a single-IOASID command names: the number itself, or `{ ioasid }` (looked up first, §9). */
  private ioasidIn(arg: unknown, command: string): number {
    if (typeof arg !== 'object' || arg === null) return arg as number;
    const a = this.args(arg, command);
    this.get(a.ioasid);
    onlyKeys(a, ['ioasid'], command);
    return a.ioasid as number;
  }
}

function pageAligned(v: bigint, name: string): void {
  if (v % BigInt(PAGE_SIZE) !== 0n) fail('EINVAL', `${name} ${hex(v)} is not 4 KiB aligned`);
}

function checkProtocol(protocol: unknown): asserts protocol is Protocol {
  if (!PROTOCOLS.includes(protocol as Protocol)) {
    fail('EINVAL', `protocol must be one of ${PROTOCOLS.map((p) => `'${p}'`).join(', ')} (got ${show(protocol)})`);
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k) => b.includes(k));
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
