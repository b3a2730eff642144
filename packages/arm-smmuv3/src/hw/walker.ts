import { getAddr, getField, INV_POW2, POW2 } from '@ioasid/core';
import { CLASS_CD, CLASS_IN, CLASS_TT, EVENT } from '../tables/events.js';
import { CD_BYTES, CD_WORDS } from '../tables/cd.js';
import { L1CD, L1CD_L2PTR, L1STD, L1STD_L2PTR, CD_SPLIT_4K, CD_SPLIT_64K } from '../tables/l1-descriptors.js';
import { STE_BYTES, STE_WORDS, S1DSS_BYPASS, S1DSS_SSID0, S1DSS_TERMINATE, S1FMT_4K_L2, S1FMT_LINEAR } from '../tables/ste.js';
import type { Bus } from './bus.js';
import type { ConfigCache } from './config-cache.js';
import { decodeContextConfig, type ContextConfig } from './context-config.js';
import type { IdCaps } from './features.js';
import { P_PRIV_R, P_PRIV_W, P_S1_ALL, P_S2_ALL, P_S2_R, P_S2_W, P_USER_R, P_USER_W, newWalkResult, permissionFailure, walkInto, type StageConfig, type WalkFault } from './lpae-walk.js';
import { decodeStreamConfig, type StreamConfig } from './stream-config.js';
import { nhTag, type Tlb } from './tlb.js';

/** Where the stream table is, as STRTAB_BASE / STRTAB_BASE_CFG say. */
export interface StreamTableRegs {
  base: number;
  twoLevel: boolean;
  log2size: number;
  split: number;
}

/** A fault the walk ended in, before the unit decides about recording, stalling or PRI. */
export interface HwFault {
  /** Event number (SMMUEventType); 0 for an STE-configured abort, which records nothing. */
  readonly event: number;
  readonly sid: number;
  readonly ssid: number;
  readonly ssv: boolean;
  readonly stage?: 1 | 2;
  readonly cls?: number;
  readonly ipa?: number;
  readonly fetchAddr?: number;
  readonly lpaeLevel?: number;
  /** Translation-class fault recordable per CD.R / STE.S2R (config errors always record). */
  readonly recordable: boolean;
  /** The configuration asks for stalling this fault (CD.S with S1STALLD clear, or STE.S2S). */
  readonly stallable: boolean;
  /** Why a structure was ILLEGAL (C_BAD_STE, C_BAD_CD). */
  readonly reason?: string;
  /** Config of the stream (for ATC fills and PRI decisions), when the STE was good. */
  readonly ste?: StreamConfig;
}

/** The low `bits` bits of a non-negative integer below 2^53 (exact; avoids a float modulo). */
function lowBits(x: number, bits: number): number {
  return x - Math.floor(x * INV_POW2[bits]) * POW2[bits];
}

const TRANSLATION_CLASS = new Set<number>([EVENT.F_TRANSLATION, EVENT.F_ADDR_SIZE, EVENT.F_ACCESS, EVENT.F_PERMISSION]);

/**
 * The SMMU's translation path (SMMUv3 §3: STE → CD → stage 1 → stage 2), reading only the bus,
 * the register values it is given and its own caches.
 */
export class Walker {
  private readonly steWords = new Uint32Array(STE_WORDS);
  private readonly cdWords = new Uint32Array(CD_WORDS);
  /** Leaves of the stage 1 walk, and of stage 2 walks (the final one and those fetching stage 1 tables). */
  private readonly s1Leaf = newWalkResult();
  private readonly s2Leaf = newWalkResult();
  private readonly fetchS2 = (a: number): number | WalkFault => this.s2Fetch(this.fetchSte!, a);
  private fetchSte: StreamConfig | null = null;
  /** First 4 KiB input frame beyond the IAS, and beyond the OAS. */
  private readonly iasFrames: number;
  private readonly oasFrames: number;

  constructor(
    private readonly bus: Bus,
    private readonly caps: IdCaps,
    private readonly cache: ConfigCache,
    private readonly tlb: Tlb,
  ) {
    this.iasFrames = POW2[caps.iasBits - 12];
    this.oasFrames = POW2[caps.oasBits - 12];
  }

  /** The stream's configuration: from the cache, or fetched from the stream table. */
  streamConfig(sid: number, strtab: StreamTableRegs, ssid: number, ssv: boolean): StreamConfig | HwFault {
    const hit = this.cache.ste(sid);
    if (hit) return hit;
    const bad = (event: number, extra: Partial<HwFault> = {}): HwFault => ({ event, sid, ssid, ssv, recordable: true, stallable: false, ...extra });
    if (sid >= 2 ** strtab.log2size) return bad(EVENT.C_BAD_STREAMID, { reason: `StreamID ${sid} ≥ 2^LOG2SIZE` });
    let steAddr: number;
    if (strtab.twoLevel) {
      const l1 = strtab.base + Math.floor(sid / 2 ** strtab.split) * 8;
      if (!this.bus.present(l1, 8)) return bad(EVENT.F_STE_FETCH, { fetchAddr: l1 });
      const d = [this.bus.u32(l1), this.bus.u32(l1 + 4)];
      const span = getField(d, 0, L1STD.Span);
      const low = sid % 2 ** strtab.split;
      if (span === 0 || span > strtab.split + 1 || low >= 2 ** (span - 1)) {
        return bad(EVENT.C_BAD_STREAMID, { reason: `L1STD Span ${span} does not cover StreamID ${sid}` });
      }
      steAddr = getAddr(d, 0, L1STD_L2PTR) + low * STE_BYTES;
    } else {
      steAddr = strtab.base + sid * STE_BYTES;
    }
    if (!this.bus.present(steAddr, STE_BYTES)) return bad(EVENT.F_STE_FETCH, { fetchAddr: steAddr });
    this.bus.readWords(steAddr, this.steWords);
    const cfg = decodeStreamConfig(sid, this.steWords, this.caps);
    if (typeof cfg === 'string') return bad(EVENT.C_BAD_STE, { reason: cfg });
    this.cache.putSte(cfg);
    return cfg;
  }

  /** Stage 2 translation of an address the SMMU fetches for stage 1 (CD or table), read access. */
  private s2Fetch(ste: StreamConfig, ipa: number): number | WalkFault {
    const s2 = ste.s2cfg!;
    const r = this.s2Leaf;
    const f = walkInto(this.bus, s2, ipa, undefined, r);
    if (f !== null) return { ...f, duringFetch: true };
    if ((r.perms & P_S2_R) === 0) return { ok: false, event: EVENT.F_PERMISSION, stage: 2, lpaeLevel: r.lpaeLevel, ipa, duringFetch: true };
    // S2PTW: a stage 1 walk that lands on Device memory at stage 2 is a stage 2 permission fault.
    if (ste.s2ptw && (r.memAttr & 0xc) === 0) {
      return { ok: false, event: EVENT.F_PERMISSION, stage: 2, lpaeLevel: r.lpaeLevel, ipa, duringFetch: true };
    }
    return r.outBase + lowBits(ipa, r.shift);
  }

  /** Reads configuration bytes at a PA or (nested) IPA; returns the PA or the fault. */
  private cfgAddr(ste: StreamConfig, addr: number, bytes: number, ssid: number, ssv: boolean): number | HwFault {
    let pa = addr;
    if (ste.s2) {
      const r = this.s2Fetch(ste, addr);
      if (typeof r !== 'number') return this.fromWalk(r, ste, ssid, ssv, CLASS_CD);
      pa = r;
    }
    if (!this.bus.present(pa, bytes)) {
      return { event: EVENT.F_CD_FETCH, sid: ste.sid, ssid, ssv, fetchAddr: pa, recordable: true, stallable: false, ste };
    }
    return pa;
  }

  contextConfig(ste: StreamConfig, ssid: number, ssv: boolean): ContextConfig | HwFault {
    const hit = this.cache.cd(ste.sid, ssid);
    if (hit) return hit;
    const bad = (event: number, reason: string): HwFault => ({ event, sid: ste.sid, ssid, ssv, recordable: true, stallable: false, reason, ste });
    let cdAddr: number;
    if (ste.s1cdmax === 0 || ste.s1fmt === S1FMT_LINEAR) {
      cdAddr = ste.ctxPtr + ssid * CD_BYTES;
    } else {
      const split = ste.s1fmt === S1FMT_4K_L2 ? CD_SPLIT_4K : CD_SPLIT_64K;
      const l1 = this.cfgAddr(ste, ste.ctxPtr + Math.floor(ssid / 2 ** split) * 8, 8, ssid, ssv);
      if (typeof l1 !== 'number') return l1;
      const d = [this.bus.u32(l1), this.bus.u32(l1 + 4)];
      if (!getField(d, 0, L1CD.V)) return bad(EVENT.C_BAD_SUBSTREAMID, `L1CD for SubstreamID ${ssid} is not valid`);
      cdAddr = getAddr(d, 0, L1CD_L2PTR) + (ssid % 2 ** split) * CD_BYTES;
    }
    const pa = this.cfgAddr(ste, cdAddr, CD_BYTES, ssid, ssv);
    if (typeof pa !== 'number') return pa;
    this.bus.readWords(pa, this.cdWords);
    const cd = decodeContextConfig(ssid, this.cdWords, this.caps, ste.s1stalld);
    if (typeof cd === 'string') return bad(EVENT.C_BAD_CD, cd);
    this.cache.putCd(ste.sid, cd);
    return cd;
  }

  private fromWalk(f: WalkFault, ste: StreamConfig, ssid: number, ssv: boolean, cls: number, cd?: ContextConfig): HwFault {
    const translation = TRANSLATION_CLASS.has(f.event);
    const s2 = f.stage === 2;
    return {
      event: f.event,
      sid: ste.sid,
      ssid,
      ssv,
      stage: f.stage,
      cls: f.duringFetch ? cls : cls === CLASS_TT ? CLASS_IN : cls,
      ipa: f.ipa,
      fetchAddr: f.fetchAddr,
      lpaeLevel: f.lpaeLevel,
      recordable: !translation || (s2 ? ste.s2record : (cd?.record ?? true)),
      stallable: translation && (s2 ? ste.s2stall : !!cd?.stall && !ste.s1stalld),
      ste,
    };
  }

  /** The stream configuration and permissions of the last successful translate(). */
  okSte: StreamConfig | null = null;
  okPerms = 0;
  /** The TLB entry (−1: nothing translated) and input frame of the last successful translate(). */
  private okEntry = -1;
  private okInput = 0;

  private plain(event: number, sid: number, ssid: number, ssv: boolean, ste: StreamConfig, reason?: string, recordable = true): HwFault {
    return reason === undefined
      ? { event, sid, ssid, ssv, recordable, stallable: false, ste }
      : { event, sid, ssid, ssv, recordable, stallable: false, ste, reason };
  }

  /** The stage 1 context of a transaction (null: stage 1 is bypassed), or the fault the STE gives it. */
  private context(ste: StreamConfig, sid: number, ssid: number, ssv: boolean): ContextConfig | HwFault | null {
    if (ste.abort) return this.plain(0, sid, ssid, ssv, ste, 'STE.Config is abort', false);
    // A SubstreamID needs stage 1 (SMMUv3 §3.9: STE.Config[0] = 0 terminates it with C_BAD_SUBSTREAMID).
    if (ssv && !ste.s1) return this.plain(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, 'a SubstreamID on a stream without stage 1');
    if (!ste.s1) return null;
    if (ssv) {
      if (ste.s1cdmax === 0 || ssid >= POW2[ste.s1cdmax]) return this.plain(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, `SubstreamID ${ssid} is beyond S1CDMax ${ste.s1cdmax}`);
      if (ssid === 0 && ste.s1dss === S1DSS_SSID0) return this.plain(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, 'SubstreamID 0 is reserved by S1DSS=SSID0');
    } else if (ste.s1cdmax > 0) {
      if (ste.s1dss === S1DSS_TERMINATE) return this.plain(EVENT.F_STREAM_DISABLED, sid, ssid, ssv, ste, 'S1DSS terminates transactions without a SubstreamID');
      if (ste.s1dss === S1DSS_BYPASS) return null;
    }
    return this.contextConfig(ste, ssid, ssv);
  }

  /**
   * Translates one 4 KiB input frame for (sid, ssid): the output frame (then `okSte` and
   * `okPerms` describe the translation), or the fault.
   */
  translate(
    strtab: StreamTableRegs,
    sid: number,
    pasid: number,
    iovaFrame: number,
    write: boolean,
    privileged: boolean,
  ): number | HwFault {
    const ssv = pasid >= 0;
    const ssid = ssv ? pasid : 0;
    let ste = this.cache.ste(sid);
    if (ste === undefined) {
      const r = this.streamConfig(sid, strtab, ssid, ssv);
      if ('event' in r) return r;
      ste = r;
    }
    let cd: ContextConfig | null = null;
    // Anything but a stage-2-only stream without a SubstreamID: abort, bypass, stage 1 contexts.
    if (ste.s1 || !ste.s2 || ssv) {
      const c = this.context(ste, sid, ssid, ssv);
      if (c !== null) {
        if ('event' in c) return c;
        cd = c;
      }
    }
    return this.fromContext(ste, cd, sid, ssid, ssv, iovaFrame, write, privileged);
  }

  /**
   * Split-stage ATS (STE.EATS = 0b10): the address of a Translated transaction is an IPA, which
   * only stage 2 translates, as an access without a SubstreamID, unprivileged (SMMUv3 §3.9.1.3;
   * without SMMU_IDR3.PASIDTT a Translated transaction has SSV = 0 and PnU = 0).
   */
  translateIpa(ste: StreamConfig, ipaFrame: number, write: boolean): number | HwFault {
    return this.fromContext(ste, null, ste.sid, 0, false, ipaFrame, write, false);
  }

  /** The IPA frame of the last successful translate(): what split-stage ATS returns to the endpoint. */
  okIpaFrame(): number {
    const e = this.okEntry;
    return e < 0 ? this.okInput : this.tlb.entryIpa(e) + (this.okInput - this.tlb.entryBase(e));
  }

  /** Translation once the stage 1 context is known (null: stage 1 bypassed). */
  private fromContext(ste: StreamConfig, cd: ContextConfig | null, sid: number, ssid: number, ssv: boolean, iovaFrame: number, write: boolean, privileged: boolean): number | HwFault {
    if (cd === null) {
      // Stage 1 bypassed (STE.Config or S1DSS). SMMUv3 §3.4 (Address sizes): the input address
      // goes to stage 2 as an IPA and must be below 2^IAS, or, with stage 2 bypassed too, leaves
      // as the PA and must be below 2^OAS; otherwise a stage 1 Address Size fault (F_ADDR_SIZE,
      // S2 = 0, CLASS = IN) ends the transaction. QEMU smmu_ptw checks the IAS the same way.
      if (iovaFrame >= (ste.s2 ? this.iasFrames : this.oasFrames)) {
        const reason = `input address beyond the ${ste.s2 ? `${this.caps.iasBits}-bit IAS` : `${this.caps.oasBits}-bit OAS`} with stage 1 bypassed`;
        return { event: EVENT.F_ADDR_SIZE, sid, ssid, ssv, stage: 1, cls: CLASS_IN, recordable: true, stallable: false, ste, reason };
      }
      // Nothing translates and nothing is cached when stage 2 is bypassed as well.
      if (!ste.s2) return this.ok(iovaFrame, ste, P_S1_ALL | P_S2_ALL);
    }
    const tag = cd !== null ? nhTag(ste.vmid, cd.asid) : ste.s2tag;
    const tlb = this.tlb;
    // A miss walks the tables and fills the TLB; the access then completes from the new entry,
    // exactly as a hit does.
    let e = tlb.lookup(tag, iovaFrame);
    if (e < 0) {
      const f = this.walk(tag, iovaFrame, ste, cd, ssid, ssv);
      if (typeof f !== 'number') return f;
      e = f;
    }
    const perms = tlb.entryPerms(e);
    // Stage 1 (privileged or not) and stage 2 permission for the access, both needed.
    const need = (privileged ? (write ? P_PRIV_W : P_PRIV_R) : write ? P_USER_W : P_USER_R) | (write ? P_S2_W : P_S2_R);
    if ((perms & need) !== need) return this.permissionFault(e, iovaFrame, perms, write, privileged, ste, cd, ssid, ssv);
    this.okSte = ste;
    this.okPerms = perms;
    this.okEntry = e;
    this.okInput = iovaFrame;
    return tlb.outFor(e, iovaFrame);
  }

  private permissionFault(e: number, iovaFrame: number, perms: number, write: boolean, privileged: boolean, ste: StreamConfig, cd: ContextConfig | null, ssid: number, ssv: boolean): HwFault {
    const fail = permissionFailure(perms, write, privileged);
    const offset = iovaFrame - this.tlb.entryBase(e);
    return this.fromWalk(
      { ok: false, event: EVENT.F_PERMISSION, stage: fail === 2 ? 2 : 1, lpaeLevel: 3, ipa: fail === 2 ? (this.tlb.entryIpa(e) + offset) * 4096 : undefined },
      ste, ssid, ssv, CLASS_TT, cd ?? undefined,
    );
  }

  private ok(frame: number, ste: StreamConfig, perms: number): number {
    this.okSte = ste;
    this.okPerms = perms;
    this.okEntry = -1;
    this.okInput = frame;
    return frame;
  }

  /** The table walk of a TLB miss: fills the TLB (returning the entry's index), or returns the fault. */
  private walk(tag: number, iovaFrame: number, ste: StreamConfig, cd: ContextConfig | null, ssid: number, ssv: boolean): number | HwFault {
    const input = iovaFrame * 4096;
    let ipa = input;
    let out = input;
    let shift = 64;
    let perms = P_S1_ALL;
    if (cd) {
      if (cd.epd0) return this.fromWalk({ ok: false, event: EVENT.F_TRANSLATION, stage: 1, lpaeLevel: cd.s1cfg.geo.startLevel }, ste, ssid, ssv, CLASS_TT, cd);
      const s1: StageConfig = cd.s1cfg;
      const r = this.s1Leaf;
      this.fetchSte = ste;
      const f = walkInto(this.bus, s1, input, ste.s2 ? this.fetchS2 : undefined, r);
      if (f !== null) return this.fromWalk(f, ste, ssid, ssv, CLASS_TT, cd);
      ipa = r.outBase + lowBits(input, r.shift);
      out = ipa;
      shift = r.shift;
      perms = r.perms;
    }
    if (ste.s2) {
      const r = this.s2Leaf;
      const f = walkInto(this.bus, ste.s2cfg!, ipa, undefined, r);
      if (f !== null) return this.fromWalk(f, ste, ssid, ssv, CLASS_IN, cd ?? undefined);
      shift = Math.min(shift, r.shift);
      perms |= r.perms;
      out = r.outBase + lowBits(ipa, r.shift);
    } else perms |= P_S2_ALL;
    // The entry covers the smaller of the two leaves.
    const order = shift - 12;
    const off = order === 0 ? 0 : lowBits(iovaFrame, order);
    return this.tlb.insert(tag, order, iovaFrame - off, Math.floor(out * (1 / 4096)) - off, Math.floor(ipa * (1 / 4096)) - off, perms);
  }
}
