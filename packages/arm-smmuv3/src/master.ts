import { getField, type DeviceDesc, type HostMemory, type IommuDomain } from '@ioasid/core';
import { OP } from './tables/commands.js';
import { S1DSS_SSID0, S1DSS_TERMINATE, STE, STE_CONFIG_NESTED } from './tables/ste.js';
import { CdTable, directSpace } from './tables/cd-table.js';
import type { IdCaps } from './hw/features.js';
import type { SmmuV3 } from './hw/smmu.js';
import type { StreamTable } from './tables/stream-table.js';
import type { CommandQueue } from './cmdq.js';
import { abortSte, nestedSte, s1Ste, s2Ste } from './ste-builder.js';
import { atcInv, type Cmd } from './invalidation.js';
import { LINEAR_CDMAX } from './capabilities.js';
import { asSmmuDomain, type SmmuDomain, type SmmuPasidTableDomain as PasidTableDomain, type SmmuS2Domain, type SmmuS2Domain as S2Domain, type StreamState } from './domain-types.js';

export type { StreamState };

/** What a master needs of the unit: its caps, the stream table, the command queue and config space. */
export interface MasterContext {
  readonly host: HostMemory;
  readonly unit: SmmuV3;
  readonly strtab: StreamTable;
  readonly cmdq: CommandQueue;
  readonly caps: IdCaps;
}

/**
 * One StreamID of the kernel (Linux struct arm_smmu_master): the devices behind it, what it is
 * attached to, its STE (recomputed from the attachments and written to memory) and its CD
 * tables. The hardware never sees this object, only the STE and CDs it writes.
 */
export class SmmuMaster implements StreamState {
  readonly devices = new Set<DeviceDesc>();
  rid: SmmuDomain | null = null;
  readonly kpasids = new Map<number, SmmuS2Domain>();
  hcd: CdTable | null = null;
  ste: Uint32Array | null = null;

  constructor(
    private readonly k: MasterContext,
    readonly sid: number,
  ) {}

  // ---- the STE (Linux arm_smmu_make_*_ste, arm_smmu_install_ste_for_dev) -----------------------

  /** The STE the stream's attachments call for. */
  steFor(): Uint32Array {
    const caps = this.k.caps;
    const ats = streamAts(this) && caps.ats;
    if (this.kpasids.size > 0 && this.hcd) {
      // Kernel-managed spaces per SubstreamID: stage 1 STE; CD 0 serves the StreamID's own space.
      const s1dss = this.rid?.protocol === 'map' ? S1DSS_SSID0 : S1DSS_TERMINATE;
      return s1Ste({ ctxPtr: this.hcd.addr, s1fmt: this.hcd.s1fmt, s1cdmax: this.hcd.s1cdmax, s1dss, stallDisabled: true }, ats);
    }
    const p = streamParent(this);
    if (!p) return abortSte();
    if (this.rid?.protocol === 'user-pasid-table' && this.rid.bound) {
      const b = this.rid.bound;
      return nestedSte(
        { ctxPtr: b.ctxPtr, s1fmt: b.s1fmt, s1cdmax: b.s1cdmax, s1dss: S1DSS_SSID0, stallDisabled: true },
        { ...p.s2Table(), vmid: this.rid.vmid },
        ats,
      );
    }
    return s2Ste(p.s2Table(), ats);
  }

  /**
   * Rewrites the CDs of this stream's kernel CD table that reach `d`'s stage 1 copy (its PASIDs,
   * and CD 0 when the StreamID's own space is `d`), after `d` changed how they are written
   * (CD.HA/HD for dirty logging), with CFGI_CD for each.
   */
  refreshKernelCds(d: S2Domain): void {
    const hcd = this.hcd;
    if (!hcd || !d.s1) return;
    const cmds: Cmd[] = [];
    for (const [pasid, x] of this.kpasids) {
      if (x !== d) continue;
      hcd.write(pasid, d.s1Cd());
      cmds.push([OP.CFGI_CD, { SID: this.sid, SSID: pasid, LEAF: 1 }]);
    }
    if (this.rid === d) {
      hcd.write(0, d.s1Cd());
      cmds.push([OP.CFGI_CD, { SID: this.sid, SSID: 0, LEAF: 1 }]);
    }
    if (cmds.length) this.k.cmdq.issue(cmds);
  }

  /** Writes the STE if it changed, then CFGI_STE + SYNC, ATC invalidation and ATS/PRI enables. */
  installSte(): void {
    const k = this.k;
    const ste = this.steFor();
    if (this.ste && this.ste.every((w, i) => w === ste[i])) return;
    const ep = k.unit.endpoints.peek(this.sid);
    const eats = getField(ste, 0, STE.EATS) !== 0;
    const nested = getField(ste, 0, STE.Config) === STE_CONFIG_NESTED;
    if (ep?.atsEnabled && !eats) k.unit.configureEndpoint(this.sid, { ats: false });
    k.strtab.writeSte(this.sid, ste);
    k.cmdq.issue([[OP.CFGI_STE, { SID: this.sid, LEAF: 1 }]]);
    if (ep?.atsEnabled && eats) k.cmdq.issue([atcInv(this.sid, null, 0, 0)]);
    if (eats) k.unit.configureEndpoint(this.sid, { ats: true });
    k.unit.configureEndpoint(this.sid, { pri: nested && streamPri(this) && k.caps.pri });
    this.ste = ste;
  }

  // ---- attach and detach (Linux arm_smmu_attach_dev, arm_smmu_set_pasid) ------------------------

  /**
   * Attach of a kernel-managed space: at the StreamID (stage 2 STE, or CD 0 of a stage 1 STE when
   * the stream's PASIDs use CDs), or at a SubstreamID (a CD pointing at the space's stage 1 copy).
   * Everything that can fail (allocations) happens before anything visible changes.
   */
  attachKernel(d: S2Domain, pasid: number | undefined): void {
    const rid = pasid === undefined ? d : this.rid?.protocol === 'map' ? this.rid : null;
    const needCds = pasid !== undefined || this.kpasids.size > 0;
    if (needCds) {
      const hadHcd = this.hcd !== null;
      const madeS1 = [d, rid].filter((x): x is S2Domain => !!x && !x.s1);
      const leaves: number[] = [];
      try {
        const hcd = this.ensureHcd();
        for (const x of madeS1) x.ensureS1();
        for (const ssid of pasid !== undefined ? [pasid, ...(rid ? [0] : [])] : [0]) if (hcd.reserve(ssid)) leaves.push(ssid);
      } catch (e) {
        for (const x of madeS1) x.dropUnusedS1();
        if (!hadHcd && this.hcd) {
          this.hcd.destroy();
          this.hcd = null;
        } else for (const ssid of leaves) this.hcd?.dropLeaf(ssid);
        throw e;
      }
      const hcd = this.hcd!;
      const cmds: Cmd[] = [];
      if (pasid !== undefined) {
        hcd.write(pasid, d.s1Cd());
        cmds.push([OP.CFGI_CD, { SID: this.sid, SSID: pasid, LEAF: 1 }]);
      }
      if (rid) {
        hcd.write(0, rid.s1Cd());
        cmds.push([OP.CFGI_CD, { SID: this.sid, SSID: 0, LEAF: 1 }]);
        // The STE may not change (same CD table), so its ATC flush would not run: the endpoint's
        // cached non-PASID translations of the old space go now (Linux invalidates the master's ATC on a domain change).
        if (pasid === undefined && this.k.unit.endpoints.peek(this.sid)?.atsEnabled) cmds.push(atcInv(this.sid, null, 0, 0));
      }
      this.k.cmdq.issue(cmds);
    }
    if (pasid === undefined) this.rid = d;
    else this.kpasids.set(pasid, d);
    this.installSte();
  }

  detachKernel(d: S2Domain, pasid: number | undefined, restoring?: IommuDomain): void {
    if (pasid === undefined) {
      this.detachParent(d, restoring);
      return;
    }
    if (this.kpasids.get(pasid) !== d) return;
    this.kpasids.delete(pasid);
    this.installSte();
    if (this.hcd) {
      this.hcd.clear(pasid);
      this.k.cmdq.issue([[OP.CFGI_CD, { SID: this.sid, SSID: pasid, LEAF: 1 }]]);
      if (this.k.unit.endpoints.peek(this.sid)?.atsEnabled) this.k.cmdq.issue([atcInv(this.sid, pasid, 0, 0)]);
    }
    this.releaseHcd();
  }

  detachParent(d: S2Domain, restoring?: IommuDomain): void {
    if (this.rid !== d) return;
    const next = restoredRoute(restoring);
    if (this.kpasids.size > 0 && this.hcd) {
      // CD 0 follows the StreamID's space (or is cleared: S1DSS then terminates).
      if (next?.protocol === 'map') {
        next.ensureS1();
        this.hcd.write(0, next.s1Cd());
      } else this.hcd.clear(0);
      this.k.cmdq.issue([[OP.CFGI_CD, { SID: this.sid, SSID: 0, LEAF: 1 }]]);
      if (this.k.unit.endpoints.peek(this.sid)?.atsEnabled) this.k.cmdq.issue([atcInv(this.sid, null, 0, 0)]);
    }
    this.rid = next;
    this.installSte();
  }

  attachPasidTable(child: PasidTableDomain): void {
    this.rid = child;
    child.streams.add(this);
    this.installSte();
  }

  detachPasidTable(child: PasidTableDomain, restoring?: IommuDomain): void {
    if (this.rid === child) this.rid = restoredRoute(restoring);
    child.streams.delete(this);
    this.installSte();
  }

  // ---- CD tables (Linux arm_smmu_alloc_cd_tables) -----------------------------------------------

  /** The CD table in host memory for kernel-managed spaces on SubstreamIDs. */
  ensureHcd(): CdTable {
    if (!this.hcd) {
      const caps = this.k.caps;
      const two = caps.cd2l;
      this.hcd = CdTable.create(directSpace(this.k.host, caps.oasBits), two ? 'two-level' : 'linear', two ? caps.ssidBits : Math.min(caps.ssidBits, LINEAR_CDMAX));
    }
    return this.hcd;
  }

  releaseHcd(): void {
    if (this.hcd && this.kpasids.size === 0) {
      this.hcd.destroy();
      this.hcd = null;
    }
  }
}

/** The route of the StreamID after a detach: back to the domain underneath, or blocked. */
function restoredRoute(restoring: IommuDomain | undefined): StreamState['rid'] {
  return asSmmuDomain(restoring);
}

/** The stage 2 (kernel-managed) domain behind the stream's attachments. */
export function streamParent(s: StreamState): SmmuS2Domain | null {
  if (s.rid) return 'parent' in s.rid ? s.rid.parent : s.rid;
  return null;
}

/** Whether the stream reaches `d` at all (StreamID, nesting child of it, or a SubstreamID). */
export function streamUses(s: StreamState, d: SmmuS2Domain): boolean {
  if (streamParent(s) === d) return true;
  for (const k of s.kpasids.values()) if (k === d) return true;
  return false;
}

export function streamAts(s: StreamState): boolean {
  for (const d of s.devices) if (d.ats) return true;
  return false;
}

export function streamPri(s: StreamState): boolean {
  for (const d of s.devices) if (d.pri) return true;
  return false;
}
