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
import { PdtWindow } from './pdt-window.js';
import { resolveOptions } from './options.js';
import { composeDeviceContext, composeProcessContext, gstageOf, type RidState } from './device-contexts.js';
import type { DomainHost } from './domain-host.js';
import { RiscvIommu } from './hw/unit.js';
import { decodeCapabilities, encodeDdtp, type Capabilities } from './hw/registers.js';
import { ddiLayout } from './tables/ddt.js';
import { encodeDeviceContext } from './tables/device-context.js';
import { encodeProcessContext } from './tables/process-context.js';
import { atsPrgr, iodirInvalDdt, iodirInvalPdt, iotinvalGvma, iotinvalVma, PRGR_RESP, type Command } from './tables/commands.js';
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
 * owns the DDT, the command/fault/page-request queues and the kernel PDTs, and turns attaches
 * and binds into device and process contexts followed by the invalidation commands the spec asks.
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
    for (const [rid, s] of this.rids) if (s.rid === dom || [...s.pasids.values()].includes(dom as UserPgtableDomain)) out.push(rid);
    return out;
  }

  /** Why (dev, pasid) cannot be routed to `dom`, or null. */
  routeProblem(dom: object, dev: DeviceDesc, pasid: number | undefined, replacing?: object): string | null {
    const s = this.rids.get(dev.rid);
    if (dom instanceof GStageDomain) {
      if (pasid !== undefined) return 'a kernel-managed IOASID is a G-stage table, and DC.iohgatp holds one G-stage for the RID and all its PASIDs: PASID-granular attach is not supported';
      if (s?.pdt && s.pdt.parent !== dom) return `RID ${hex(dev.rid)} has PASID routes over another G-stage (DC.iohgatp is one per device)`;
      return null;
    }
    if (dom instanceof PasidTableDomain) {
      if (pasid !== undefined) return 'a PASID-table IOASID takes the whole PASID space of a device: attach it without a PASID';
      if (dev.kind === 'mdev') return 'an mdev cannot own a process-directory table';
      if (s && s.pasids.size > 0) return `RID ${hex(dev.rid)} has PASID routes in the kernel's PDT; DC.fsc holds one PDT`;
      return null;
    }
    const child = dom as UserPgtableDomain;
    if (pasid === undefined) {
      if (s && s.pasids.size > 0) return `RID ${hex(dev.rid)} has PASID routes: DC.fsc holds their PDT and cannot also hold a first stage for the RID`;
      return null;
    }
    if (this.pasidBits === 0) return 'this RISC-V IOMMU has no process directory (capabilities.PD8/PD17/PD20 = 0)';
    if (pasid === 0) return 'PASID 0 is reserved (DC.tc.DPE sends requests without PASID to process_id 0)';
    if (pasid >= 2 ** this.pasidBits) return `PASID ${pasid} is wider than the ${this.pasidBits}-bit process_id`;
    const cur = s?.rid === replacing ? undefined : s?.rid;
    if (cur instanceof UserPgtableDomain || cur instanceof PasidTableDomain) return `RID ${hex(dev.rid)} already uses DC.fsc for a first stage or a guest PDT`;
    const g = cur instanceof GStageDomain ? cur : s ? [...s.pasids.values()][0]?.parent : undefined;
    if (g && g !== child.parent) return `RID ${hex(dev.rid)} walks another G-stage (DC.iohgatp is one per device)`;
    return null;
  }

  route(dom: object, dev: DeviceDesc, pasid: number | undefined): void {
    if (!(dom instanceof RvDomain)) return;
    let s = this.rids.get(dev.rid);
    const fresh = !s;
    if (!s) s = { pasids: new Map(), ats: dev.ats && this.caps.ats, pri: dev.pri && dev.ats && this.caps.ats };
    if (dev.kind === 'pdev') {
      s.ats = dev.ats && this.caps.ats;
      s.pri = s.ats && dev.pri;
    }
    if (pasid === undefined) {
      if (fresh) this.rids.set(dev.rid, s);
      s.rid = dom;
      this.writeDc(dev.rid);
      return;
    }
    const newPdt = !s.pdt;
    if (newPdt) s.pdt = this.newPdt((dom as UserPgtableDomain).parent);
    try {
      s.pdt!.dir.ensure(pasid);
    } catch (e) {
      if (newPdt) this.dropPdt(s);
      throw e;
    }
    if (fresh) this.rids.set(dev.rid, s);
    s.pasids.set(pasid, dom as UserPgtableDomain);
    this.writePc(dev.rid, pasid);
    if (newPdt) this.writeDc(dev.rid);
  }

  unroute(dom: object, dev: DeviceDesc, pasid: number | undefined, restoring?: object): void {
    const s = this.rids.get(dev.rid);
    if (!s || !(dom instanceof RvDomain)) return;
    if (pasid === undefined) {
      if (s.rid === dom) s.rid = restoring instanceof RvDomain ? restoring : undefined;
      this.writeDc(dev.rid);
    } else if (s.pasids.get(pasid) === dom) {
      s.pasids.delete(pasid);
      s.pdt!.dir.release(pasid);
      this.cmdq.submit([iodirInvalPdt(dev.rid, pasid), iotinvalVma({ gscid: s.pdt!.gscid, pscid: (dom as UserPgtableDomain).pscid })]);
      if (s.pasids.size === 0) {
        const gscid = s.pdt!.gscid;
        this.writeDc(dev.rid);
        this.dropPdt(s);
        this.cmdq.submit([iotinvalGvma({ gscid }), iotinvalVma({ gscid })]);
      }
    }
    dom.flush();
    if (!s.rid && s.pasids.size === 0) this.rids.delete(dev.rid);
  }

  rewriteGStage(g: object): void {
    for (const [rid, s] of this.rids) if (gstageOf(s) === g) this.writeDc(rid);
  }

  /** Rewrites every DC and PC that points at `dom` (after a bind). */
  rewriteRoutes(dom: object): void {
    for (const [rid, s] of this.rids) {
      if (s.rid === dom) this.writeDc(rid);
      for (const [pasid, d] of s.pasids) if (d === dom) this.writePc(rid, pasid);
    }
  }

  /** A kernel PDT in the widest mode the unit has, in a window of a copy of `parent`'s G-stage. */
  private newPdt(parent: GStageDomain): PdtWindow {
    const mode = this.pdModes[this.pdModes.length - 1];
    const levels = mode === 'PD8' ? 1 : mode === 'PD17' ? 2 : 3;
    const gscid = this.gscids.alloc();
    try {
      const w = PdtWindow.create(this.ctx.hostMemory, parent, gscid, this.gstageMode, levels);
      parent.windows.add(w);
      return w;
    } catch (e) {
      this.gscids.free(gscid);
      throw e;
    }
  }

  private dropPdt(s: RidState): void {
    const w = s.pdt!;
    (w.parent as GStageDomain).windows.delete(w);
    w.destroy();
    this.gscids.free(w.gscid);
    s.pdt = undefined;
  }

  /** GSCIDs of the PDT windows through which `child` is PASID-routed. */
  windowGscidsOf(child: object): number[] {
    const out: number[] = [];
    for (const s of this.rids.values()) if (s.pdt && [...s.pasids.values()].includes(child as UserPgtableDomain)) out.push(s.pdt.gscid);
    return out;
  }

  /** Writes the DC of `rid` from its routes, then IODIR.INVAL_DDT (spec §4.2: software updates a DC, then invalidates). */
  writeDc(rid: number): void {
    const s = this.rids.get(rid);
    const dc = composeDeviceContext(this.gstageMode, s);
    this.ctx.hostMemory.write(this.ddt.leafAddr(rid), qwBytes(encodeDeviceContext(dc, this.caps.msiFlat)));
    this.cmdq.submit([iodirInvalDdt(rid)]);
  }

  writePc(rid: number, pasid: number): void {
    const s = this.rids.get(rid)!;
    const child = s.pasids.get(pasid)!;
    this.ctx.hostMemory.write(s.pdt!.dir.leafAddr(pasid), qwBytes(encodeProcessContext(composeProcessContext(child))));
    const cmds: Command[] = [iodirInvalPdt(rid, pasid), iotinvalVma({ gscid: s.pdt!.gscid, pscid: child.pscid })];
    this.cmdq.submit(cmds);
  }

  ridState(rid: number): RidState | undefined {
    return this.rids.get(rid);
  }
}
