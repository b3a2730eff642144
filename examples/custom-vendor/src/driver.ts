import {
  RadixPageTable,
  fail,
  hex,
  ptLookupView,
  specLevelOf,
  type DeviceDesc,
  type DirtyLog,
  type DomainDump,
  type DomainRequest,
  type DmaRequest,
  type GuestKernelHelpers,
  type InvalidateRequest,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type IovaRange,
  type LookupView,
  type MachineContext,
  type PgtableFormat,
  type PhysRuns,
  type Protocol,
  type TranslateResult,
} from '@ioasid/core';
import { flatFormat, S1_MAX_INPUT_BITS, S1_MIN_INPUT_BITS, S2_INPUT_BITS } from './format.js';
import {
  CTX_ENTRY_BYTES,
  CTX_TABLE_ENTRIES,
  EMPTY_CONTEXT,
  HOST_PASID_ENTRY_BYTES,
  TT_BLOCKED,
  TT_NESTED,
  TT_S2,
  encodeContext,
  encodeHostPasidEntry,
  qwordsToBytes,
  type ContextEntry,
  type TranslationEntry,
} from './tables.js';
import { FlatHardware, INV_CONTEXT, INV_IOTLB_DOMAIN, INV_IOTLB_PAGES, INV_PASID_CACHE, decodeCap, encodeCap, invCommand } from './hw.js';
import { FLAT_PASID_TABLE, FLAT_V1, checkPasidTableFormat, checkS1Format, flatGuestHelpers } from './guest.js';
import { dirtyHooks } from './dirty.js';

/** Vendor options: `createMachine({ vendor: 'flat-iommu', flat: { nesting: false, … } })`. */
export interface FlatOptions {
  /** Hardware nesting (BIND_PGTABLE of a guest flat table). Default true. */
  nesting?: boolean;
  /** PASID width, 0..20 (0 = no PASID). Default 8. */
  pasidBits?: number;
  /** Page requests for stage-1 faults. Default true. */
  pri?: boolean;
  /** Guest-owned PASID tables (BIND_PASID_TABLE). Default true. */
  pasidTables?: boolean;
  /** Accept ENQCMD-tagged requests from ENQCMD-capable mdevs. Default true. */
  enqcmd?: boolean;
  /** Dirty logging (CAP.DL: SET_DIRTY_TRACKING / GET_DIRTY_BITMAP on 'map' IOASIDs). Default true. */
  dirtyTracking?: boolean;
}

/** The MSI doorbell range: a hole between the two permitted IOVA ranges. */
export const MSI_HOLE: IovaRange = { start: 0xfee00000n, last: 0xfeefffffn };
const PERMITTED: IovaRange[] = [
  { start: 0n, last: MSI_HOLE.start - 1n },
  { start: MSI_HOLE.last + 1n, last: (1n << BigInt(S2_INPUT_BITS)) - 1n },
];

interface RidState {
  /** What requests without PASID use. */
  rid?: FlatDomain;
  /** PASID-granular attachments in the host-owned PASID table. */
  pasids: Map<number, FlatDomain>;
  /** Frame of the host-owned PASID table (allocated with the first PASID attachment). */
  hostTable?: number;
}

export class FlatIommuDriver implements IommuDriver {
  readonly vendor = 'flat-iommu';
  readonly hw: FlatHardware;
  /** The probed unit: the bus sends DMA to its translate; the driver reaches it only by MMIO. */
  readonly unit: FlatHardware;
  readonly guest: GuestKernelHelpers = flatGuestHelpers;
  readonly pasidBits: number;
  private readonly ctxTable: number;
  private readonly rids = new Map<number, RidState>();
  private readonly freeDids: number[] = [];
  private nextDid = 1;

  constructor(readonly ctx: MachineContext) {
    const o = (ctx.options.flat ?? {}) as FlatOptions;
    const pasidBits = o.pasidBits ?? 8;
    if (!Number.isInteger(pasidBits) || pasidBits < 0 || pasidBits > 20) fail('EINVAL', `flat.pasidBits must be 0..20 (got ${String(pasidBits)})`);
    const nesting = o.nesting ?? true;
    this.hw = new FlatHardware(
      ctx.hostMemory,
      encodeCap({
        s2Bits: S2_INPUT_BITS,
        s1MaxBits: nesting ? S1_MAX_INPUT_BITS : 0,
        pasidBits,
        pri: nesting && (o.pri ?? true),
        pasidTables: nesting && pasidBits > 0 && (o.pasidTables ?? true),
        enqcmd: pasidBits > 0 && (o.enqcmd ?? true),
        dirty: o.dirtyTracking ?? true,
      }),
    );
    this.pasidBits = pasidBits;
    this.unit = this.hw;
    const frames = (CTX_TABLE_ENTRIES * CTX_ENTRY_BYTES) / 4096;
    this.ctxTable = ctx.hostMemory.allocFrames(frames, frames);
    this.hw.write('CTX_BASE', (BigInt(this.ctxTable) << 12n) | 1n);
  }

  private get cap() {
    return decodeCap(this.hw.read('CAP'));
  }

  /** GET_INFO of one device, derived from the CAP register. */
  capabilities(dev: DeviceDesc): IoasidInfo {
    const cap = this.cap;
    const protocols: Protocol[] = ['map'];
    if (cap.s1MaxBits > 0) protocols.push('user-pgtable');
    if (cap.pasidTables) protocols.push('user-pasid-table');
    return {
      protocols,
      nesting: cap.s1MaxBits > 0 ? 'hardware' : 'software',
      pageSizes: [4096n],
      permittedRanges: PERMITTED.map((r) => ({ ...r })),
      formats: cap.s1MaxBits > 0 ? [{ kind: FLAT_V1, inputBits: cap.s1MaxBits }] : [],
      pasidTableFormats: cap.pasidTables ? [{ kind: FLAT_PASID_TABLE, entriesLog2: Math.min(cap.pasidBits, 8) }] : [],
      pasidBits: cap.pasidBits,
      coherent: true,
      enqcmd: dev.enqcmd && cap.enqcmd,
      pageRequest: dev.pri && cap.pri,
      ats: dev.ats,
      dirtyTracking: cap.dirty,
    };
  }

  createDomain(req: DomainRequest): IommuDomain {
    const cap = this.cap;
    if (req.protocol === 'map') return new MapDomain(this);
    if (!(req.parent instanceof MapDomain)) fail('EINVAL', `a '${req.protocol}' IOASID needs a flat-iommu 'map' parent`);
    if (req.protocol === 'user-pgtable') {
      if (cap.s1MaxBits === 0) fail('EOPNOTSUPP', 'this flat IOMMU has no nesting (CAP stage-1 bits = 0)');
      return new NestedDomain(this, req.parent);
    }
    if (!cap.pasidTables) fail('EOPNOTSUPP', 'this flat IOMMU cannot walk guest PASID tables (CAP.PTB = 0)');
    return new PasidTableDomain(this, req.parent);
  }

  /** The unit's translation (the bus calls the unit directly; this is for callers holding the driver). */
  translate(req: DmaRequest): TranslateResult {
    return this.unit.translate(req);
  }

  // ---- kernel helpers used by the domains ----------------------------------------------------

  allocDid(): number {
    const did = this.freeDids.pop() ?? this.nextDid++;
    if (did > 0xffff) fail('ENOSPC', 'flat-iommu: out of domain IDs');
    return did;
  }

  freeDid(did: number): void {
    this.freeDids.push(did);
  }

  state(rid: number): RidState {
    let s = this.rids.get(rid);
    if (!s) this.rids.set(rid, (s = { pasids: new Map() }));
    return s;
  }

  invalidate(type: number, id: number, pasid?: number): void {
    this.hw.write('INV_CMD', invCommand(type, id, pasid));
  }

  /** IOTLB invalidation of [iova, iova+size) in one DID (one command covering an aligned block). */
  invalidatePages(did: number, iova: bigint, size: bigint, pasid?: number): void {
    const first = iova >> 12n;
    const last = (iova + size - 1n) >> 12n;
    let order = 0n;
    while (first >> order !== last >> order) order++;
    this.hw.write('INV_ADDR', ((first >> order) << (order + 12n)) | order);
    this.invalidate(INV_IOTLB_PAGES, did, pasid);
  }

  /** Writes the context entry of a RID from what is attached to it, then invalidates its cache. */
  writeContext(rid: number): void {
    const s = this.state(rid);
    let e: ContextEntry = { ...EMPTY_CONTEXT };
    if (s.rid) e = { ...e, ...s.rid.contextFor(rid), valid: true };
    if (s.hostTable !== undefined) {
      if (!s.rid) e = { ...e, valid: true, tt: TT_BLOCKED };
      e = { ...e, ptValid: true, ptGuest: false, ptLog2: this.pasidBits, ptRoot: s.hostTable };
    }
    this.ctx.hostMemory.write(this.ctxTable * 4096 + rid * CTX_ENTRY_BYTES, qwordsToBytes(encodeContext(e)));
    this.invalidate(INV_CONTEXT, rid);
    if (!s.rid && s.pasids.size === 0) this.rids.delete(rid);
  }

  writePasidEntry(rid: number, pasid: number, e: TranslationEntry | undefined): void {
    const s = this.state(rid);
    const pa = s.hostTable! * 4096 + pasid * HOST_PASID_ENTRY_BYTES;
    this.ctx.hostMemory.write(pa, qwordsToBytes(e ? encodeHostPasidEntry(e) : [0n, 0n, 0n, 0n]));
    this.invalidate(INV_PASID_CACHE, rid, pasid);
  }

  hostTableFrames(): number {
    return Math.max(1, Math.ceil((2 ** this.pasidBits * HOST_PASID_ENTRY_BYTES) / 4096));
  }

  /** Why `dev` cannot be attached with `pasid`, or null. */
  pasidProblem(dev: DeviceDesc, pasid: number | undefined): string | null {
    if (pasid === undefined) return dev.kind === 'mdev' ? 'an mdev needs a PASID, and this flat IOMMU has none' : null;
    if (this.pasidBits === 0) return 'this flat IOMMU has no PASID support (CAP PASID bits = 0)';
    if (pasid >= 2 ** this.pasidBits) return `PASID ${pasid} does not fit the ${this.pasidBits}-bit PASID table`;
    const s = this.rids.get(dev.rid);
    if (s?.rid instanceof PasidTableDomain) return `RID ${hex(dev.rid)} already uses a guest PASID table`;
    return null;
  }

  /**
   * Routes (dev, pasid) to `dom`. When `dom` takes the route over from the domain below it (a
   * nested child over its parent), the entry is rewritten in one step: no blocked window.
   */
  attach(dom: FlatDomain, dev: DeviceDesc, pasid: number | undefined): void {
    const s = this.state(dev.rid);
    if (pasid === undefined) {
      s.rid = dom;
      this.writeContext(dev.rid);
      return;
    }
    const fresh = s.hostTable === undefined;
    if (fresh) {
      const n = this.hostTableFrames();
      s.hostTable = this.ctx.hostMemory.allocFrames(n, n); // may fail: nothing changed yet
    }
    s.pasids.set(pasid, dom);
    this.writePasidEntry(dev.rid, pasid, dom.contextFor(dev.rid));
    if (fresh) this.writeContext(dev.rid);
  }

  /** Removes (dev, pasid) from `dom`; with `restoring`, the route goes back to that domain. */
  detach(dom: FlatDomain, dev: DeviceDesc, pasid: number | undefined, restoring: FlatDomain | undefined): void {
    const s = this.state(dev.rid);
    if (pasid === undefined) {
      if (s.rid === dom) s.rid = restoring;
      this.writeContext(dev.rid);
    } else if (s.pasids.get(pasid) === dom) {
      if (restoring) {
        s.pasids.set(pasid, restoring);
        this.writePasidEntry(dev.rid, pasid, restoring.contextFor(dev.rid));
      } else {
        s.pasids.delete(pasid);
        this.writePasidEntry(dev.rid, pasid, undefined);
        if (s.pasids.size === 0) {
          this.ctx.hostMemory.freeFrames(s.hostTable!, this.hostTableFrames());
          s.hostTable = undefined;
          this.writeContext(dev.rid);
        }
      }
    }
    // What the departing domain cached for this route goes too.
    this.invalidate(INV_IOTLB_DOMAIN, dom.did, pasid);
    if (dom instanceof PasidTableDomain) this.invalidate(INV_IOTLB_DOMAIN, dom.pasidDid);
  }

  /** Rewrites every context and PASID entry pointing at `dom`, each with its cache invalidation. */
  rewriteRoutes(dom: FlatDomain): void {
    for (const [rid, s] of this.rids) {
      if (s.rid === dom) this.writeContext(rid);
      for (const [pasid, d] of s.pasids) if (d === dom) this.writePasidEntry(rid, pasid, dom.contextFor(rid));
    }
  }

  /** Rewrites every entry pointing at `dom` (after a bind) and flushes what it cached. */
  refresh(dom: FlatDomain): void {
    this.rewriteRoutes(dom);
    this.invalidate(INV_IOTLB_DOMAIN, dom.did);
    if (dom instanceof PasidTableDomain) this.invalidate(INV_IOTLB_DOMAIN, dom.pasidDid);
  }

  ridsUsing(dom: FlatDomain): number[] {
    return [...this.rids].filter(([, s]) => s.rid === dom).map(([rid]) => rid);
  }
}

/** Common kernel-side domain plumbing. */
abstract class FlatDomain implements IommuDomain {
  abstract readonly protocol: Protocol;
  readonly did: number;
  protected readonly attached = new Set<string>();

  constructor(protected readonly drv: FlatIommuDriver) {
    this.did = drv.allocDid();
  }

  /** The translation-context fields this domain puts in a context or PASID entry. */
  abstract contextFor(rid: number): TranslationEntry & Partial<ContextEntry>;

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return { pageSizes: [4096n], permittedRanges: PERMITTED.map((r) => ({ ...r })) };
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): string | null {
    return this.drv.pasidProblem(dev, pasid);
  }

  /** With `replacing` (the parent holding the route), the route switches here in one step; the parent stays attached underneath. */
  attach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): void {
    this.drv.attach(this, dev, pasid);
    this.attached.add(`${dev.rid}:${pasid ?? -1}`);
  }

  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    this.drv.detach(this, dev, pasid, restoring instanceof FlatDomain ? restoring : undefined);
    this.attached.delete(`${dev.rid}:${pasid ?? -1}`);
  }

  map(_iova: bigint, _size: bigint, _phys: PhysRuns, _prot: number): void {
    fail('EOPNOTSUPP', `a '${this.protocol}' domain has no kernel-managed mappings`);
  }

  unmap(_iova: bigint, _size: bigint): void {
    fail('EOPNOTSUPP', `a '${this.protocol}' domain has no kernel-managed mappings`);
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) this.drv.invalidate(INV_IOTLB_DOMAIN, this.did, req.pasid);
    else this.drv.invalidatePages(this.did, req.iova, req.size, req.pasid);
  }

  abstract dump(): DomainDump;
  abstract lookup(iova: bigint, pasid?: number): LookupView;

  destroy(): void {
    if (this.attached.size > 0) fail('EBUSY', 'flat-iommu: domain destroyed while attached');
    this.drv.invalidate(INV_IOTLB_DOMAIN, this.did);
    this.drv.freeDid(this.did);
  }
}

/** A kernel-managed address space: one stage-2 flat table in host memory. */
export class MapDomain extends FlatDomain {
  readonly protocol = 'map' as const;
  readonly pt: RadixPageTable;
  /** Nested children whose IOTLB entries combine their stage 1 with this stage 2. */
  readonly nested = new Set<FlatDomain>();
  /** DT in the entries of this domain's routes and of its nested children's (SET_DIRTY_TRACKING). */
  tracking = false;
  /** Dirty tracking (dirty.ts): present only on a unit whose CAP has DL, so GET_INFO and core agree. */
  readonly setDirtyTracking?: (enable: boolean) => void;
  readonly readDirty?: (log: DirtyLog, clear: boolean) => void;

  constructor(drv: FlatIommuDriver) {
    const pt = RadixPageTable.create(drv.ctx.hostMemory, flatFormat(S2_INPUT_BITS)); // may fail before anything else
    super(drv);
    this.pt = pt;
    if (decodeCap(drv.hw.read('CAP')).dirty) {
      const hooks = dirtyHooks(drv, this);
      this.setDirtyTracking = hooks.setDirtyTracking;
      this.readDirty = hooks.readDirty;
    }
  }

  contextFor(): TranslationEntry {
    return { valid: true, tt: TT_S2, s2Root: this.pt.root, s1Valid: false, s1Bits: 0, s1Root: 0, did: this.did, dt: this.tracking };
  }

  override map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    this.pt.map(Number(iova >> 12n), Number(size >> 12n), phys, prot);
  }

  override unmap(iova: bigint, size: bigint): void {
    this.pt.unmap(Number(iova >> 12n), Number(size >> 12n));
    this.drv.invalidatePages(this.did, iova, size);
    this.flushNested();
  }

  /** Nested IOTLB entries were made through this stage 2: flushes them (their DIDs whole). */
  flushNested(): void {
    for (const child of this.nested) {
      this.drv.invalidate(INV_IOTLB_DOMAIN, child.did);
      if (child instanceof PasidTableDomain) this.drv.invalidate(INV_IOTLB_DOMAIN, child.pasidDid);
    }
  }

  dump(): DomainDump {
    return { title: 'stage-2 flat table', inputBase: 0n, format: this.pt.fmt.name, root: this.pt.dump() };
  }

  lookup(iova: bigint): LookupView {
    return ptLookupView(this.pt, iova, { stage: 'stage-2', unmapped: () => 'S2_NOT_PRESENT' });
  }

  override destroy(): void {
    super.destroy();
    this.pt.destroy();
  }
}

/** A user-pgtable child: the guest's flat table (stage 1) over the parent's stage 2. */
export class NestedDomain extends FlatDomain {
  readonly protocol = 'user-pgtable' as const;
  bound: { root: number; bits: number } | undefined;

  constructor(
    drv: FlatIommuDriver,
    readonly parent: MapDomain,
  ) {
    super(drv);
    parent.nested.add(this);
  }

  contextFor(): TranslationEntry {
    return {
      valid: true,
      tt: TT_NESTED,
      s2Root: this.parent.pt.root,
      s1Valid: this.bound !== undefined,
      s1Bits: this.bound?.bits ?? S1_MAX_INPUT_BITS,
      s1Root: this.bound?.root ?? 0,
      did: this.did,
      dt: this.parent.tracking,
    };
  }

  override info() {
    return { pageSizes: [4096n], permittedRanges: [{ start: 0n, last: (1n << BigInt(this.bound?.bits ?? S1_MAX_INPUT_BITS)) - 1n }] };
  }

  bindPgtable(addr: bigint, format: PgtableFormat): void {
    const bits = checkS1Format(format, S1_MAX_INPUT_BITS);
    this.bound = { root: Number(addr >> 12n), bits };
    this.drv.refresh(this);
  }

  dump(): DomainDump {
    return {
      title: 'guest stage-1 flat table over stage 2',
      inputBase: 0n,
      format: this.bound ? flatFormat(this.bound.bits).name : FLAT_V1,
      root: null,
      context: { S1PTR: this.bound ? BigInt(this.bound.root) << 12n : null, S1IB: this.bound?.bits ?? null, DID: this.did },
      children: [this.parent.dump()],
    };
  }

  lookup(iova: bigint): LookupView {
    if (!this.bound) return { iova, steps: [], output: null, fault: 'S1_NOT_PRESENT' };
    const gpaOfEntry = BigInt(this.bound.root) * 4096n + (iova >> 12n) * 8n;
    const s2 = this.parent.lookup(gpaOfEntry);
    if (s2.output === null) return { iova, steps: s2.steps.map((s) => ({ ...s, stage: 'stage-2 (for table fetch)' })), output: null, fault: 'S2_NOT_PRESENT' };
    const raw = this.drv.ctx.hostMemory.u64(Number(s2.output));
    const fmt = flatFormat(this.bound.bits);
    const decoded = fmt.decode(Number(raw & 0xffffffffn), Number(raw >> 32n), 0);
    const step = {
      level: specLevelOf(fmt, 0),
      index: Number(iova >> 12n),
      tableAddr: BigInt(this.bound.root) << 12n,
      entryAddr: gpaOfEntry,
      raw,
      decoded,
      stage: 'stage-1',
    };
    if (decoded.kind !== 'leaf') return { iova, steps: [step], output: null, fault: 'S1_NOT_PRESENT' };
    const out = this.parent.lookup(decoded.addr! | (iova & 0xfffn));
    return { ...out, iova, steps: [step, ...out.steps] };
  }

  override destroy(): void {
    super.destroy();
    this.parent.nested.delete(this);
  }
}

/** A user-pasid-table child: the guest's PASID table, walked through the parent's stage 2. */
export class PasidTableDomain extends FlatDomain {
  readonly protocol = 'user-pasid-table' as const;
  /** DID of translations made from the guest table (the own DID tags nothing here). */
  readonly pasidDid: number;
  bound: { root: number; log2: number } | undefined;

  constructor(
    drv: FlatIommuDriver,
    readonly parent: MapDomain,
  ) {
    super(drv);
    this.pasidDid = this.did;
    parent.nested.add(this);
  }

  contextFor(): TranslationEntry & Partial<ContextEntry> {
    return {
      ...this.parent.contextFor(),
      ptValid: this.bound !== undefined,
      ptGuest: true,
      ptLog2: this.bound?.log2 ?? 0,
      ptRoot: this.bound?.root ?? 0,
      pasidDid: this.pasidDid,
    };
  }

  override checkAttach(dev: DeviceDesc, pasid: number | undefined, _replacing?: IommuDomain): string | null {
    if (pasid !== undefined) return 'a PASID-table IOASID takes the whole PASID space of a RID: attach it without a PASID';
    if (dev.kind === 'mdev') return 'an mdev cannot own a PASID table';
    return null;
  }

  override attach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): void {
    const s = this.drv.state(dev.rid);
    if (s.pasids.size > 0) fail('EBUSY', `RID ${hex(dev.rid)} has PASID attachments; detach them before binding a guest PASID table`);
    super.attach(dev, pasid, replacing);
  }

  bindPasidTable(addr: bigint, format: PgtableFormat): void {
    const log2 = checkPasidTableFormat(format, this.drv.pasidBits);
    this.bound = { root: Number(addr >> 12n), log2 };
    this.drv.refresh(this);
  }

  override invalidate(req: InvalidateRequest): void {
    // The PASID cache first (guest PASID-table entries), then the IOTLB of that table's contexts.
    for (const rid of this.drv.ridsUsing(this)) this.drv.invalidate(INV_PASID_CACHE, rid, req.pasid);
    super.invalidate(req);
  }

  dump(): DomainDump {
    return {
      title: 'guest PASID table over stage 2',
      inputBase: 0n,
      format: FLAT_PASID_TABLE,
      root: null,
      context: { PTPTR: this.bound ? BigInt(this.bound.root) << 12n : null, PTS: this.bound?.log2 ?? null, PDID: this.pasidDid },
      children: [this.parent.dump()],
    };
  }

  lookup(iova: bigint, pasid?: number): LookupView {
    if (pasid === undefined) return this.parent.lookup(iova);
    return { iova, steps: [], output: null, fault: 'lookup through a guest PASID table is not modelled' };
  }

  override destroy(): void {
    super.destroy();
    this.parent.nested.delete(this);
  }
}

export { S1_MIN_INPUT_BITS };
