import { type DomainDump, type InvalidateRequest, type IovaRange, type LookupView, type PgtableFormat } from '@ioasid/core';
import { checkSvFormat, RISCV_SV } from './bind-formats.js';
import { iotinvalVma, type Command } from './tables/commands.js';
import type { SvMode } from './tables/atp.js';
import { PAGE_SIZES, RvDomain, checkRootGpa, pagesOf } from './domain-base.js';
import type { GStageDomain } from './domain-gstage.js';
import type { DomainHost } from './domain-host.js';
import { dumpGuest, guestTable, lookupNested } from './lookup.js';

/**
 * A 'user-pgtable' child: the guest's Sv39/Sv48/Sv57 table (BIND_PGTABLE, a GPA) walked through
 * the parent's G-stage. Its translations are tagged by the parent's GSCID and this domain's own
 * PSCID, which the kernel puts in DC.ta. It is reached only without PASID: a PASID route would
 * need a kernel PDT, and under a G-stage that PDT would be DMA-readable (device-contexts.ts).
 */
export class UserPgtableDomain extends RvDomain {
  readonly protocol = 'user-pgtable' as const;
  readonly pscid: number;
  bound: { root: number; mode: SvMode } | undefined;

  constructor(
    drv: DomainHost,
    readonly parent: GStageDomain,
  ) {
    super(drv);
    this.pscid = drv.pscids.alloc();
    parent.nested.add(this);
  }

  info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] } {
    // The lower half of the sign-extended input space of the mode bound (the widest before a bind).
    const mode = this.bound?.mode ?? Math.max(...this.drv.svModes);
    return { pageSizes: [...PAGE_SIZES], permittedRanges: [{ start: 0n, last: (1n << BigInt(mode - 1)) - 1n }] };
  }

  bindPgtable(addr: bigint, format: PgtableFormat): void {
    const mode = checkSvFormat(format, this.drv.svModes);
    checkRootGpa(addr, RISCV_SV, 'iosatp.PPN');
    this.bound = { root: Number(addr >> 12n), mode };
    this.drv.rewriteRoutes(this);
    this.flush();
  }

  flush(): void {
    this.drv.cmdq.submit([iotinvalVma({ gscid: this.parent.gscid, pscid: this.pscid })]);
  }

  invalidate(req: InvalidateRequest): void {
    if (req.all) return this.flush();
    const pages = pagesOf(req.iova, req.size);
    if (!pages) return this.flush();
    const cmds: Command[] = [];
    for (const addr of pages) cmds.push(iotinvalVma({ gscid: this.parent.gscid, pscid: this.pscid, addr }));
    this.drv.cmdq.submit(cmds);
  }

  dump(): DomainDump {
    const ctx = { PSCID: this.pscid, GSCID: this.parent.gscid, 'iosatp.MODE': this.bound ? `Sv${this.bound.mode}` : 'unbound', 'iosatp.PPN': this.bound ? BigInt(this.bound.root) : null };
    if (!this.bound) return { title: 'guest first stage (unbound) over the G-stage', inputBase: 0n, format: RISCV_SV, root: null, context: ctx, children: [this.parent.dump()] };
    const { root, truncated } = dumpGuest(guestTable(this.parent.pt, this.drv.ctx.hostMemory, this.bound.root, this.bound.mode));
    return { title: `guest Sv${this.bound.mode} first stage over the G-stage`, inputBase: 0n, format: `sv${this.bound.mode}`, root, context: { ...ctx, truncated }, children: [this.parent.dump()] };
  }

  lookup(iova: bigint): LookupView {
    if (!this.bound) return { iova, steps: [], output: null, fault: 'no guest table bound (the device context is not valid)' };
    return lookupNested(guestTable(this.parent.pt, this.drv.ctx.hostMemory, this.bound.root, this.bound.mode), this.parent.pt, iova);
  }

  destroy(): void {
    this.flush();
    this.drv.pscids.free(this.pscid);
    this.parent.nested.delete(this);
  }
}
