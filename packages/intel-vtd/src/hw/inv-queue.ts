import { hasReservedBits } from '../tables/inv-desc-reserved.js';
import { decodeInvDescWords, devTlbRange, INV_DESC_BYTES, CC_DEVICE, CC_DOMAIN, CC_GLOBAL, IOTLB_DOMAIN, IOTLB_GLOBAL, IOTLB_PAGE, PC_DOMAIN, PC_GLOBAL, PC_PASID_SEL, PIOTLB_ALL_IN_PASID, PIOTLB_PAGE_IN_PASID, type InvDesc } from '../tables/inv-desc.js';
import type { ContextCache } from './context-cache.js';
import type { DeviceTlb } from './device-tlb.js';
import type { Iotlb } from './iotlb.js';
import type { PasidCache } from './pasid-cache.js';
import type { PhysBus } from './phys-bus.js';
import { IQA_DW, IQA_IQA, IQA_QS, IQH_QH, IQT_QT, reg, regBig, withField } from './registers.js';

/** A page-group response as it reaches the device. */
export interface DeliveredResponse {
  rid: number;
  pasid?: number;
  code: number;
  prgi: number;
  lpig: boolean;
}

export interface InvalidationTargets {
  contextCache: ContextCache;
  pasidCache: PasidCache;
  iotlb: Iotlb;
  devTlb: DeviceTlb;
  /** Page responses delivered to devices, oldest first. */
  responses: DeliveredResponse[];
  /** Sets ICS.IWC (a wait descriptor with IF). */
  completion(): void;
  /** Sets FSTS.IQE: the head descriptor is invalid; processing stops there. */
  queueError(): void;
  /** Whether FSTS.IQE is set: no descriptor is fetched until software clears it. */
  queueErrorPending(): boolean;
}

/** Whole 64-bit input space in frames, for "everything" ranges. */
const ALL = { frame: 0, frames: 2 ** 52 };

/**
 * Queued invalidation (VT-d 6.5.2): descriptors in host memory at IQA_REG, 2^(QS+8) 128-bit or
 * 2^(QS+7) 256-bit slots (DW); software writes them and moves IQT_REG, the unit executes from
 * IQH_REG up to the tail and moves IQH_REG.
 */
export class InvalidationQueue {
  iqa = 0n;
  iqh = 0n;
  iqt = 0n;
  enabled = false;
  /** IQA_REG decoded when written: queue base (bytes), slot size and count. */
  private base = 0;
  private bytes = 16;
  private count = 256;
  /** One descriptor's words as fetched. */
  private readonly words = new Uint32Array(INV_DESC_BYTES / 4);

  constructor(
    private readonly bus: PhysBus,
    private readonly t: InvalidationTargets,
  ) {}

  get descBytes(): number {
    return this.bytes;
  }

  get slots(): number {
    return this.count;
  }

  private index(v: bigint, f: typeof IQH_QH): number {
    return Number(regBig(v, f) << 4n) / this.bytes;
  }

  writeIqa(v: bigint): void {
    this.iqa = v;
    this.iqh = 0n;
    this.iqt = 0n;
    this.base = Number(regBig(v, IQA_IQA) << 12n);
    this.bytes = reg(v, IQA_DW) ? INV_DESC_BYTES : 16;
    this.count = (4096 * 2 ** reg(v, IQA_QS)) / this.bytes;
  }

  /** Software moves the tail; the unit runs the queue up to it (synchronously). */
  writeIqt(v: bigint): void {
    this.iqt = v;
    this.run();
  }

  /**
   * Fetches and executes descriptors from IQH up to IQT. An invalid one (a type the unit does not
   * implement, a reserved bit, a reserved granularity) is not executed: the unit sets FSTS.IQE,
   * leaves IQH at it and fetches nothing more until software clears IQE (VT-d §6.5.2.10).
   */
  run(): void {
    if (!this.enabled || this.t.queueErrorPending()) return;
    const tail = this.index(this.iqt, IQT_QT);
    let head = this.index(this.iqh, IQH_QH);
    const w = this.words;
    while (head !== tail) {
      // A 128-bit descriptor (DW = 0) leaves the upper words zero.
      w.fill(0);
      this.bus.readWords(this.base + head * this.bytes, this.bytes / 4, w);
      const d = decodeInvDescWords(w);
      if (!d || hasReservedBits(d.type, w) || !this.execute(d)) {
        this.t.queueError();
        break;
      }
      head = (head + 1) % this.count;
    }
    this.iqh = withField(0n, IQH_QH, (head * this.bytes) >> 4);
  }

  /** Applies one descriptor; false, with nothing done, for a granularity the type reserves. */
  private execute(d: InvDesc): boolean {
    const { contextCache, pasidCache, iotlb, devTlb } = this.t;
    switch (d.type) {
      case 'cc':
        // Scalable-mode context entries carry no DID, so a domain-selective request acts globally.
        if (d.gran === CC_GLOBAL || d.gran === CC_DOMAIN) contextCache.invalidateAll();
        else if (d.gran === CC_DEVICE) contextCache.invalidateDevice(d.sid, d.fm);
        else return false;
        return true;
      case 'iotlb':
        if (d.gran === IOTLB_GLOBAL) iotlb.invalidateAll();
        else if (d.gran === IOTLB_DOMAIN) iotlb.invalidateDomain(d.did);
        else if (d.gran === IOTLB_PAGE) iotlb.invalidateDomain(d.did, pageRange(d.addr, d.am));
        else return false;
        return true;
      case 'piotlb':
        if (d.gran === PIOTLB_ALL_IN_PASID) iotlb.invalidatePasid(d.did, d.pasid);
        else if (d.gran === PIOTLB_PAGE_IN_PASID) iotlb.invalidatePasid(d.did, d.pasid, pageRange(d.addr, d.am));
        else return false;
        return true;
      case 'pc':
        if (d.gran === PC_GLOBAL) pasidCache.invalidateAll();
        else if (d.gran === PC_DOMAIN) pasidCache.invalidateDomain(d.did);
        else if (d.gran === PC_PASID_SEL) pasidCache.invalidatePasid(d.did, d.pasid);
        else return false;
        return true;
      case 'devtlb': {
        const r = devTlbRange(d.addr, d.s);
        devTlb.invalidate(d.sid, -1, toFrames(r));
        return true;
      }
      case 'dev-piotlb': {
        const r = devTlbRange(d.addr, d.s);
        devTlb.invalidate(d.sid, d.g ? null : d.pasid, d.g ? ALL : toFrames(r));
        return true;
      }
      case 'wait':
        if (d.sw) this.bus.writeU32(Number(d.statusAddr), d.statusData);
        if (d.iflag) this.t.completion();
        return true;
      case 'pgrp-resp':
        this.t.responses.push({ rid: d.rid, pasid: d.pasidPresent ? d.pasid : undefined, code: d.code, prgi: d.prgi, lpig: d.lpig });
        return true;
    }
  }
}

function pageRange(addr: bigint, am: number): { frame: number; frames: number } {
  const frames = 2 ** am;
  const frame = Number(addr >> 12n);
  return { frame: frame - (frame % frames), frames };
}

function toFrames(r: { start: bigint; size: bigint }): { frame: number; frames: number } {
  const frames = r.size >= 1n << 64n ? 2 ** 52 : Number(r.size >> 12n);
  return { frame: Number(r.start >> 12n), frames };
}
