import {
  IdAllocator,
  fail,
  hex,
  type DeviceDesc,
  type DmaRequest,
  type DomainRequest,
  type FaultRecord,
  type GuestKernelHelpers,
  type IoasidInfo,
  type IommuDomain,
  type IommuDriver,
  type MachineContext,
  type PageResponseCode,
  type Protocol,
  type TranslateResult,
} from '@ioasid/core';
import { ALL_PD, ALL_SV, RISCV_PDT, RISCV_SV } from './bind-formats.js';
import { CommandQueue } from './cmdq.js';
import { RvDomain, PAGE_SIZES } from './domain-base.js';
import { GStageDomain, permittedGpa } from './domain-gstage.js';
import { PasidTableDomain } from './domain-pasid-table.js';
import { UserPgtableDomain } from './domain-user-pgtable.js';
import { FaultQueue, PageRequestQueue } from './fault-queues.js';
import { riscvGuestHelpers } from './guest.js';
import { KernelDirectory } from './kernel-directory.js';
import { resolveOptions } from './options.js';
import { composeDeviceContext, gstageOf, type RidState } from './device-contexts.js';
import type { DomainHost } from './domain-host.js';
import { RiscvIommu } from './hw/unit.js';
import { decodeCapabilities, encodeDdtp, type Capabilities } from './hw/registers.js';
import { ddiLayout } from './tables/ddt.js';
import { encodeDeviceContext } from './tables/device-context.js';
import { atsPrgr, iodirInvalDdt, PRGR_RESP } from './tables/commands.js';
import type { PdMode, SvMode } from './tables/atp.js';

export const VENDOR = 'riscv-iommu';


function qwBytes(q: readonly bigint[]): Uint8Array {
  const b = new Uint8Array(q.length * 8);
  const v = new DataView(b.buffer);
  q.forEach((x, i) => v.setBigUint64(8 * i, x, true));
  return b;
}

/**
 * The kernel's RISC-V IOMMU driver (after Linux drivers/iommu/riscv/iommu.c): probes the unit,
 * owns the DDT and the command/fault/page-request queues, and turns attaches and binds into
 * device contexts followed by the invalidation commands the spec asks.
 */
export class RiscvIommuDriver implements IommuDriver, DomainHost {
  readonly vendor = VENDOR;
  readonly unit: RiscvIommu;
  readonly guest: GuestKernelHelpers = riscvGuestHelpers;
  readonly allocFormatKeys = {};
  readonly caps: Capabilities;
  readonly gstageMode: SvMode;
  readonly dirtyLogging: boolean;
  readonly svModes: SvMode[];
  readonly pdModes: PdMode[];
  readonly cmdq: CommandQueue;
  readonly fq: FaultQueue;
  readonly pq: PageRequestQueue;
  readonly ddt: KernelDirectory;
  readonly gscids: IdAllocator;
  readonly pscids: IdAllocator;
  private readonly rids = new Map<number, RidState>();
  private readonly probed = new Map<number, number>();

  constructor(readonly ctx: MachineContext) {
    const o = resolveOptions(ctx.options.riscv);
    this.unit = new RiscvIommu(ctx.hostMemory, o.capabilities);
    // GET_INFO and every choice below come from the register, as Linux reads capabilities at probe.
    this.caps = decodeCapabilities(this.unit.read('capabilities'));
    this.gstageMode = o.gstage;
    this.dirtyLogging = this.caps.amoHwad;
    this.svModes = ALL_SV.filter((m) => this.caps.sv[m]);
    this.pdModes = ALL_PD.filter((m) => (m === 'PD8' ? this.caps.pd8 : m === 'PD17' ? this.caps.pd17 : this.caps.pd20));
    this.gscids = new IdAllocator(1, 2 ** 16, 'GSCID', ctx.injector);
    this.pscids = new IdAllocator(1, 2 ** 20, 'PSCID', ctx.injector);
    // Probe order of riscv_iommu_init: queues first, then the DDT and ddtp.
    this.cmdq = new CommandQueue(ctx.hostMemory, this.unit);
    this.fq = new FaultQueue(ctx.hostMemory, this.unit);
    this.pq = new PageRequestQueue(ctx.hostMemory, this.unit);
    const layout = ddiLayout(this.caps.msiFlat);
    this.ddt = KernelDirectory.create(ctx.hostMemory, layout.widths.slice(0, o.ddtLevels), layout.dcBytes);
    this.unit.write('ddtp', encodeDdtp(o.ddtLevels === 1 ? '1LVL' : o.ddtLevels === 2 ? '2LVL' : '3LVL', this.ddt.root));
    this.cmdq.submit([iodirInvalDdt()]);
  }

  /** PASID width: the widest PDT mode the unit has. */
  get pasidBits(): number {
    return this.caps.pd20 ? 20 : this.caps.pd17 ? 17 : this.caps.pd8 ? 8 : 0;
  }

  get nesting(): boolean {
    return this.svModes.length > 0;
  }

  capabilities(dev: DeviceDesc): IoasidInfo {
    const protocols: Protocol[] = ['map'];
    if (this.nesting) protocols.push('user-pgtable');
    if (this.nesting && this.pdModes.length > 0) protocols.push('user-pasid-table');
    const ats = dev.ats && this.caps.ats;
    return {
      protocols,
      nesting: this.nesting ? 'hardware' : 'software',
      pageSizes: [...PAGE_SIZES],
      permittedRanges: permittedGpa(this.gstageMode),
      formats: this.svModes.map((mode) => ({ kind: RISCV_SV, mode })),
      pasidTableFormats: this.nesting ? this.pdModes.map((mode) => ({ kind: RISCV_PDT, mode })) : [],
      pasidBits: this.nesting ? this.pasidBits : 0,
      coherent: true,
      // ENQCMD is an x86 instruction: no RISC-V IOMMU register or structure has it.
      enqcmd: false,
      pageRequest: ats && dev.pri,
      ats,
      dirtyTracking: this.dirtyLogging,
    };
  }

  createDomain(req: DomainRequest): IommuDomain {
    if (req.protocol === 'map') return new GStageDomain(this);
    if (!(req.parent instanceof GStageDomain)) fail('EINVAL', `a '${req.protocol}' IOASID needs a riscv-iommu 'map' parent (its G-stage)`);
    if (!this.nesting) fail('EOPNOTSUPP', 'this RISC-V IOMMU has no first stage (capabilities.Sv39/Sv48/Sv57 = 0)');
    if (req.protocol === 'user-pgtable') return new UserPgtableDomain(this, req.parent);
    if (this.pdModes.length === 0) fail('EOPNOTSUPP', 'this RISC-V IOMMU has no process directory (capabilities.PD8/PD17/PD20 = 0)');
    return new PasidTableDomain(this, req.parent);
  }

  translate(req: DmaRequest): TranslateResult {
    return this.unit.translate(req);
  }

  probeDevice(dev: DeviceDesc): void {
    const bits = this.ddt.widths.reduce((a, b) => a + b, 0);
    if (!Number.isInteger(dev.rid) || dev.rid < 0 || dev.rid >= 2 ** bits) fail('EINVAL', `device_id ${hex(dev.rid)} is wider than the ${this.ddt.levels}-level DDT (${bits} bits)`);
    this.ddt.ensure(dev.rid);
    this.probed.set(dev.rid, (this.probed.get(dev.rid) ?? 0) + 1);
  }

  releaseDevice(dev: DeviceDesc): void {
    const n = (this.probed.get(dev.rid) ?? 0) - 1;
    if (n > 0) return void this.probed.set(dev.rid, n);
    this.probed.delete(dev.rid);
    if (this.rids.has(dev.rid)) return;
    this.ddt.release(dev.rid);
    this.cmdq.submit([iodirInvalDdt(dev.rid)]);
  }

  pageResponse(dev: DeviceDesc, pasid: number, record: FaultRecord, code: PageResponseCode): void {
    this.pq.drain();
    if (typeof record.prgIndex !== 'number') return;
    const resp = code === 'success' ? PRGR_RESP.Success : code === 'invalid' ? PRGR_RESP.InvalidRequest : PRGR_RESP.ResponseFailure;
    this.cmdq.submit([atsPrgr(dev.rid, pasid >= 0 ? pasid : undefined, record.prgIndex, resp)]);
  }

  resetDevice(): void {
    // Nothing is sticky on this unit; the kernel reads what the fault queue collected.
    this.fq.drain();
    this.pq.drain();
  }

  // ---- routes -------------------------------------------------------------------------------

  ridsRoutedTo(dom: object): number[] {
    const out: number[] = [];
    for (const [rid, s] of this.rids) if (s.rid === dom) out.push(rid);
    return out;
  }

  /**
   * Why (dev, pasid) cannot be routed to `dom`, or null. Every route is the RID's: DC.iohgatp holds
   * one G-stage for the RID and all its PASIDs, and a PASID reaches a first stage only through a
   * PDT, which under a G-stage is walked by GPA (spec §2.3.2). A kernel PDT there would be mapped
   * into the device's own G-stage and readable by its DMA, so the kernel owns none: PASIDs are
   * the guest's, through its own PDT (BIND_PASID_TABLE).
   */
  routeProblem(dom: object, dev: DeviceDesc, pasid: number | undefined): string | null {
    if (dom instanceof GStageDomain) {
      if (pasid !== undefined) return 'a kernel-managed IOASID is a G-stage table, and DC.iohgatp holds one G-stage for the RID and all its PASIDs: PASID-granular attach is not supported';
      return null;
    }
    if (dom instanceof PasidTableDomain) {
      if (pasid !== undefined) return 'a PASID-table IOASID takes the whole PASID space of a device: attach it without a PASID';
      if (dev.kind === 'mdev') return 'an mdev cannot own a process-directory table';
      return null;
    }
    if (pasid !== undefined) {
      return "a PASID route to a bound page table needs a process directory, which under a G-stage is read by GPA (spec §2.3.2): a kernel-owned one would be readable by the device's DMA. Bind the guest's own PDT to the RID with BIND_PASID_TABLE (a 'user-pasid-table' IOASID) instead";
    }
    return null;
  }

  route(dom: object, dev: DeviceDesc, pasid: number | undefined): void {
    if (!(dom instanceof RvDomain) || pasid !== undefined) return;
    let s = this.rids.get(dev.rid);
    if (!s) {
      s = { ats: dev.ats && this.caps.ats, pri: dev.pri && dev.ats && this.caps.ats };
      this.rids.set(dev.rid, s);
    }
    if (dev.kind === 'pdev') {
      s.ats = dev.ats && this.caps.ats;
      s.pri = s.ats && dev.pri;
    }
    s.rid = dom;
    this.writeDc(dev.rid);
  }

  unroute(dom: object, dev: DeviceDesc, pasid: number | undefined, restoring?: object): void {
    const s = this.rids.get(dev.rid);
    if (!s || !(dom instanceof RvDomain) || pasid !== undefined) return;
    if (s.rid === dom) s.rid = restoring instanceof RvDomain ? restoring : undefined;
    this.writeDc(dev.rid);
    dom.flush();
    if (!s.rid) this.rids.delete(dev.rid);
  }

  rewriteGStage(g: object): void {
    for (const [rid, s] of this.rids) if (gstageOf(s) === g) this.writeDc(rid);
  }

  /** Rewrites every DC that points at `dom` (after a bind). */
  rewriteRoutes(dom: object): void {
    for (const [rid, s] of this.rids) if (s.rid === dom) this.writeDc(rid);
  }

  /** Writes the DC of `rid` from its routes, then IODIR.INVAL_DDT (spec §4.2: software updates a DC, then invalidates). */
  writeDc(rid: number): void {
    const s = this.rids.get(rid);
    const dc = composeDeviceContext(this.gstageMode, s);
    this.ctx.hostMemory.write(this.ddt.leafAddr(rid), qwBytes(encodeDeviceContext(dc, this.caps.msiFlat)));
    this.cmdq.submit([iodirInvalDdt(rid)]);
  }

  ridState(rid: number): RidState | undefined {
    return this.rids.get(rid);
  }
}
