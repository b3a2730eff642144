import {
  RadixPageTable,
  fail,
  ptHarvestDirty,
  type DirtyLog,
  registerVendor,
  hex,
  PAGE_SHIFT,
  type DeviceDesc,
  type DmaRequest,
  type DomainDump,
  type FaultRecord,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type LookupView,
  type MachineContext,
  type PhysRuns,
  type TranslateResult,
  type VendorRegistration,
  type WalkTracer,
  type HostMemory,
  type IommuUnit,
  container,
} from '../src/index.js';
import { MOCK_DIRTY, mockFormat } from './mock-format.js';

/** Device-table slot bit 1: log DMA writes in the leaf's dirty bit (the mock's SSADE / HD). */
export const MOCK_SLOT_DT = 0x2;

const u32le = (v: number) => new Uint8Array(new Uint32Array([v >>> 0]).buffer);

const FMT = mockFormat();
const IAS = 39;

/**
 * Test-only vendor: a device table in host memory (one 8-byte entry per RID per PASID slot,
 * holding a root pointer), the mock radix format, an IOTLB cleared only by `flush`.
 */
class MockHardware {
  /** Frame of the device table: (rid & 0xff) × 8 PASID slots (slot 0 = no PASID). */
  readonly table: number;
  readonly iotlb = new Map<string, { frame: number; perms: number; root: number }>();
  flushes = 0;

  constructor(
    private readonly ctx: { hostMemory: HostMemory },
    table?: number,
  ) {
    this.table = table ?? ctx.hostMemory.allocFrames(16, 16);
  }

  slotAddr(rid: number, pasid: number): number {
    return this.table * 4096 + ((rid & 0xff) * 8 + (pasid < 0 ? 0 : (pasid % 7) + 1)) * 8;
  }

  translate(req: DmaRequest): TranslateResult {
    return this.run(req, undefined, true, true);
  }

  /** The same walk, traced, without filling the IOTLB (it probes it only with `caches`). */
  walk(req: DmaRequest, tracer: WalkTracer, options: { caches?: boolean } = {}): TranslateResult {
    return this.run(req, tracer, options.caches === true, false);
  }

  private run(req: DmaRequest, tracer: WalkTracer | undefined, useCache: boolean, fill: boolean): TranslateResult {
    const key = `${req.rid}:${req.pasid}:${req.iovaFrame}`;
    // A write with dirty logging on walks to the leaf, so that its D bit gets set (as x86 A/D).
    const slotWord = this.ctx.hostMemory.u32(this.slotAddr(req.rid, req.pasid));
    const logs = req.write && (slotWord & MOCK_SLOT_DT) !== 0;
    const hit = useCache && !logs ? this.iotlb.get(key) : undefined;
    if (useCache) tracer?.probe('IOTLB', hit !== undefined);
    const fault = (code: number, name: string): FaultRecord => ({
      rid: req.rid,
      pasid: req.pasid < 0 ? undefined : req.pasid,
      iova: BigInt(req.iovaFrame) << 12n,
      write: req.write,
      code,
      name,
    });
    let frame: number;
    let perms: number;
    if (hit) {
      frame = hit.frame;
      perms = hit.perms;
    } else {
      const slot = this.slotAddr(req.rid, req.pasid);
      const ent = this.ctx.hostMemory.u32(slot);
      const root = ((this.ctx.hostMemory.u32(slot + 4) * 0x100000) + (ent >>> 12));
      tracer?.read({ structure: 'device-table slot', addr: BigInt(slot), raw: [this.ctx.hostMemory.u64(slot)], fields: { V: (ent & 1) === 1, DT: (ent & MOCK_SLOT_DT) !== 0, ROOT: BigInt(root) << 12n }, ...((ent & 1) === 0 ? { decided: 'V = 0' } : {}) });
      if ((ent & 1) === 0) return fault(1, 'NO_CONTEXT');
      if (req.iovaFrame >= 2 ** (IAS - 12)) return fault(2, 'ADDR_SIZE');
      const pt = RadixPageTable.view(this.ctx.hostMemory, FMT, root);
      if (tracer) for (const s of pt.walk(req.iovaFrame)) tracer.read({ structure: `level ${s.specLevel} entry`, level: s.specLevel, index: s.index, addr: s.entryAddr, raw: [s.raw], fields: s.decoded.fields });
      const leaf = pt.lookup(req.iovaFrame);
      if (!leaf) return { ...fault(3, 'NOT_PRESENT'), pageRequest: true };
      frame = leaf.frame;
      perms = leaf.perms;
      if (logs && fill && (perms & 2) !== 0) {
        const e = Number(pt.walk(req.iovaFrame).at(-1)!.entryAddr);
        this.ctx.hostMemory.write(e, u32le(this.ctx.hostMemory.u32(e) | MOCK_DIRTY));
      }
      tracer?.leaf({ read: (perms & 1) !== 0, write: (perms & 2) !== 0 }, 1n << BigInt(leaf.shift));
      if (fill) this.iotlb.set(key, { frame, perms, root });
    }
    if ((perms & (req.write ? 2 : 1)) === 0) return fault(4, 'PERMISSION');
    return frame;
  }

  /** A context change: drop what was cached for the route. */
  flushSlot(rid: number, pasid: number): void {
    for (const k of this.iotlb.keys()) if (k.startsWith(`${rid}:${pasid}:`)) this.iotlb.delete(k);
  }

  flush(root: number): void {
    this.flushes++;
    for (const [k, v] of this.iotlb) if (v.root === root) this.iotlb.delete(k);
  }
}

class MockDomain implements IommuDomain {
  readonly protocol = 'map' as const;
  readonly pt: RadixPageTable;
  readonly attached = new Set<string>();
  dirtyTracking = false;
  /** When set, unmap forgets to flush the IOTLB (to prove caches are real). */
  forgetFlush = false;

  constructor(
    private readonly ctx: MachineContext,
    private readonly hw: MockHardware,
  ) {
    this.pt = RadixPageTable.create(ctx.hostMemory, FMT);
  }

  info() {
    return { pageSizes: [4096n, 2n << 20n], permittedRanges: [{ start: 0n, last: (1n << BigInt(IAS)) - 1n }] };
  }
  checkAttach(dev: DeviceDesc): string | null {
    return dev.name.startsWith('alien') ? 'device sits behind another IOMMU unit' : null;
  }
  attach(dev: DeviceDesc, pasid: number | undefined): void {
    this.program(dev, pasid);
    this.attached.add(`${dev.rid}:${pasid ?? -1}`);
  }
  /** Points the device-table slot of (dev, pasid) at this domain's root. */
  program(dev: DeviceDesc, pasid: number | undefined): void {
    const a = this.hw.slotAddr(dev.rid, pasid ?? -1);
    const mem = this.ctx.hostMemory;
    const w = mem.wordsForWrite(Math.floor(a / 4096));
    const i = mem.wordBase(Math.floor(a / 4096)) + ((a % 4096) >>> 2);
    w[i] = (((this.pt.root & 0xfffff) << 12) | 1 | (this.dirtyTracking ? MOCK_SLOT_DT : 0)) >>> 0;
    w[i + 1] = Math.floor(this.pt.root / 0x100000);
    this.hw.flushSlot(dev.rid, pasid ?? -1);
  }
  detach(dev: DeviceDesc, pasid: number | undefined, restoring?: IommuDomain): void {
    if (!this.attached.delete(`${dev.rid}:${pasid ?? -1}`)) fail('EINVAL', `mock: ${dev.name} not attached`);
    if (restoring) {
      (restoring as MockDomain).program(dev, pasid);
    } else {
      this.ctx.hostMemory.write(this.hw.slotAddr(dev.rid, pasid ?? -1), new Uint8Array(8));
      this.hw.flushSlot(dev.rid, pasid ?? -1);
    }
  }
  map(iova: bigint, size: bigint, phys: PhysRuns, prot: number): void {
    this.pt.map(Number(iova >> BigInt(PAGE_SHIFT)), Number(size >> BigInt(PAGE_SHIFT)), phys, prot);
  }
  unmap(iova: bigint, size: bigint): void {
    this.pt.unmap(Number(iova >> BigInt(PAGE_SHIFT)), Number(size >> BigInt(PAGE_SHIFT)));
    if (!this.forgetFlush) this.hw.flush(this.pt.root);
  }
  invalidate(): void {
    this.hw.flush(this.pt.root);
  }
  setDirtyTracking(enable: boolean): void {
    this.dirtyTracking = enable;
    for (const k of this.attached) {
      const [rid, pasid] = k.split(':').map(Number);
      this.program({ rid } as DeviceDesc, pasid < 0 ? undefined : pasid);
    }
  }
  readDirty(log: DirtyLog, clear: boolean): void {
    ptHarvestDirty(this.pt, log, { clear });
    if (clear && log.leaves > 0) this.hw.flush(this.pt.root);
  }
  dump(): DomainDump {
    return { title: 'mock', inputBase: 0n, format: FMT.name, root: this.pt.dump() };
  }
  lookup(iova: bigint): LookupView {
    const steps = this.pt.walk(Number(iova >> 12n));
    const leaf = this.pt.lookup(Number(iova >> 12n));
    return { iova, steps, output: leaf ? (BigInt(leaf.frame) << 12n) | (iova & 0xfffn) : null };
  }
  destroy(): void {
    if (this.attached.size) fail('EBUSY', 'mock: destroy while attached');
    this.pt.destroy();
  }
}

export class MockDriver implements IommuDriver {
  readonly vendor: string = 'mock';
  readonly hw: MockHardware;
  readonly domains: MockDomain[] = [];
  readonly unit = {
    registers: () => ({ TABLE: BigInt(this.hw.table) << 12n }),
    walk: (req: DmaRequest, tracer: WalkTracer, options?: { caches?: boolean }) => this.hw.walk(req, tracer, options),
  };
  readonly responses: { rid: number; pasid: number; code: string }[] = [];

  constructor(private readonly ctx: MachineContext) {
    this.hw = new MockHardware(ctx);
  }
  capabilities(dev: DeviceDesc): IoasidInfo {
    return {
      protocols: ['map'],
      nesting: 'software',
      pageSizes: [4096n, 2n << 20n],
      permittedRanges: [
        { start: 0n, last: 0xfedfffffn },
        { start: 0xfef00000n, last: (1n << BigInt(IAS)) - 1n },
      ],
      formats: [],
      pasidTableFormats: [],
      pasidBits: 20,
      coherent: true,
      enqcmd: dev.enqcmd,
      pageRequest: dev.pri,
      ats: dev.ats,
      dirtyTracking: !dev.name.startsWith('nodirty'),
    };
  }
  createDomain(req: { protocol: string }): IommuDomain {
    if (req.protocol !== 'map') fail('EOPNOTSUPP', `mock: no hardware nesting (${req.protocol})`);
    const d = new MockDomain(this.ctx, this.hw);
    this.domains.push(d);
    return d;
  }
  translate(req: DmaRequest): TranslateResult {
    return this.hw.translate(req);
  }
  pageResponse(dev: DeviceDesc, pasid: number, _r: FaultRecord, code: string): void {
    this.responses.push({ rid: dev.rid, pasid, code });
  }
}

/** The mock unit alone over a memory image: TABLE (the device table's address) is its one register. */
function mockHardware(memory: HostMemory, registers: Readonly<Record<string, bigint>>): IommuUnit {
  const table = registers.TABLE;
  if (typeof table !== 'bigint' || table % 4096n !== 0n) fail('EINVAL', 'mock: register TABLE (a page-aligned address) is required');
  const hw = new MockHardware({ hostMemory: memory }, Number(table >> 12n));
  return {
    registers: () => ({ TABLE: table }),
    translate: (req) => hw.translate(req),
    walk: (req, tracer, options) => hw.walk(req, tracer, options),
  };
}

export const mockVendor: VendorRegistration = {
  vendor: 'mock',
  description: 'test-only mock IOMMU',
  create: (ctx) => new MockDriver(ctx),
  hardware: mockHardware,
  faults: [
    { code: 1, name: 'NO_CONTEXT', explain: 'the device-table slot of the requester is not valid' },
    { code: 2, name: 'ADDR_SIZE', explain: 'the input address is wider than the table covers' },
    { code: 3, name: 'NOT_PRESENT', explain: 'no leaf maps the input page' },
    { code: 4, name: 'PERMISSION', explain: 'the leaf does not grant the access' },
  ],
};

registerVendor(mockVendor, container);
export { hex };
