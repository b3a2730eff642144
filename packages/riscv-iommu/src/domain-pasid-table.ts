import { Stage2Memory, type DomainDump, type InvalidateRequest, type IovaRange, type LookupView, type PgtableFormat } from '@ioasid/core';
import { checkPdtFormat, RISCV_PDT } from './bind-formats.js';
import { iodirInvalDdt, iodirInvalPdt, iotinvalGvma, iotinvalVma, type Command } from './tables/commands.js';
import { pidBitsOf, svFromIosatpMode, type PdMode } from './tables/atp.js';
import { decodeProcessContext, pdi, pdtLevels } from './tables/process-context.js';
import { PAGE_SIZES, RvDomain, checkRootGpa, pagesOf } from './domain-base.js';
import type { GStageDomain } from './domain-gstage.js';
import type { DomainHost } from './domain-host.js';
import { guestTable, lookupNested } from './lookup.js';

/**
 * A 'user-pasid-table' child: the guest's own process-directory table (BIND_PASID_TABLE, a GPA)
 * in DC.fsc with PDTV = 1, walked through the parent's G-stage. The guest picks the PSCIDs in its
 * PCs, so this domain has a GSCID of its own (over the parent's G-stage table) and its entries
 * never meet another address space's.
 */
export class PasidTableDomain extends RvDomain {
  readonly protocol = 'user-pasid-table' as const;
  readonly gscidOwn: number;
  bound: { root: number; mode: PdMode } | undefined;

  constructor(
    drv: DomainHost,
    readonly parent: GStageDomain,
  ) {
    super(drv);
    this.gscidOwn = drv.gscids.alloc();
    parent.nested.add(this);
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    return this.parent.info();
  }

  bindPasidTable(addr: bigint, format: PgtableFormat): void {
    const mode = checkPdtFormat(format, this.drv.pdModes);
    checkRootGpa(addr, RISCV_PDT, 'pdtp.PPN');
    this.bound = { root: Number(addr >> 12n), mode };
    this.drv.rewriteRoutes(this);
    this.flush();
  }

  flush(): void {
    this.drv.cmdq.submit([iotinvalVma({ gscid: this.gscidOwn }), iotinvalGvma({ gscid: this.gscidOwn })]);
  }

  /** The guest changed its PDT or page tables: the PDT cache first, then the IOTLB (by GSCID: the guest's PSCIDs are its own). */
  invalidate(req: InvalidateRequest): void {
    const cmds: Command[] = [];
    for (const rid of this.drv.ridsRoutedTo(this)) cmds.push(req.pasid !== undefined ? iodirInvalPdt(rid, req.pasid) : iodirInvalDdt(rid));
    const pages = req.all ? null : pagesOf(req.iova, req.size);
    if (pages) for (const addr of pages) cmds.push(iotinvalVma({ gscid: this.gscidOwn, addr }));
    else cmds.push(iotinvalVma({ gscid: this.gscidOwn }));
    this.drv.cmdq.submit(cmds);
  }

  dump(): DomainDump {
    return {
      title: 'guest process-directory table over the G-stage',
      inputBase: 0n,
      format: RISCV_PDT,
      root: null,
      context: { 'pdtp.MODE': this.bound?.mode ?? 'unbound', 'pdtp.PPN': this.bound ? BigInt(this.bound.root) : null, GSCID: this.gscidOwn },
      children: [this.parent.dump()],
    };
  }

  /** LOOKUP by PASID: the guest PDT (at most three reads, through the G-stage), then the nested walk. */
  lookup(iova: bigint, pasid?: number): LookupView {
    if (pasid === undefined) return this.parent.lookup(iova);
    if (!this.bound) return { iova, steps: [], output: null, fault: 'no guest PDT bound' };
    if (!Number.isInteger(pasid) || pasid < 0 || pasid >= 2 ** pidBitsOf(this.bound.mode)) return { iova, steps: [], output: null, fault: `PASID wider than ${this.bound.mode} (transaction type disallowed)` };
    const mem = new Stage2Memory(this.drv.ctx.hostMemory, this.parent.pt);
    let frame = this.bound.root;
    for (let i = pdtLevels(this.bound.mode) - 1; i > 0; i--) {
      const gpa = frame * 4096 + pdi(pasid, i) * 8;
      if (!mem.frameMapped(frame)) return { iova, steps: [], output: null, fault: 'PDT page not mapped by the G-stage (guest-page fault)' };
      const lo = mem.u32(gpa);
      const hi = mem.u32(gpa + 4);
      if ((lo & 1) === 0) return { iova, steps: [], output: null, fault: 'non-leaf PDT entry not valid' };
      frame = (hi & 0x3fffff) * 0x400000 + (lo >>> 10);
    }
    if (!mem.frameMapped(frame)) return { iova, steps: [], output: null, fault: 'PDT page not mapped by the G-stage (guest-page fault)' };
    const at = frame * 4096 + pdi(pasid, 0) * 16;
    const w = mem.readWords(at, 4);
    const pc = decodeProcessContext([(BigInt(w[1]) << 32n) | BigInt(w[0]), (BigInt(w[3]) << 32n) | BigInt(w[2])]);
    if (!pc.V) return { iova, steps: [], output: null, fault: 'process context not valid' };
    const mode = svFromIosatpMode(pc.fsc.MODE);
    if (!mode) return this.parent.lookup(iova);
    return lookupNested(guestTable(this.parent.pt, this.drv.ctx.hostMemory, pc.fsc.PPN, mode), this.parent.pt, iova);
  }

  destroy(): void {
    this.flush();
    this.drv.gscids.free(this.gscidOwn);
    this.parent.nested.delete(this);
  }
}

export { PAGE_SIZES };
