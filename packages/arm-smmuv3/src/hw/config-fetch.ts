import { getAddr, getField, POW2 } from '@ioasid/core';
import { CLASS_CD, EVENT } from '../tables/events.js';
import { CD_BYTES, CD_WORDS } from '../tables/cd.js';
import { L1CD, L1CD_L2PTR, L1STD, L1STD_L2PTR, CD_SPLIT_4K, CD_SPLIT_64K } from '../tables/l1-descriptors.js';
import { STE_BYTES, STE_WORDS, S1DSS_BYPASS, S1DSS_SSID0, S1DSS_TERMINATE, S1FMT_4K_L2, S1FMT_LINEAR } from '../tables/ste.js';
import type { Bus } from './bus.js';
import type { ConfigCache } from './config-cache.js';
import { decodeContextConfig, type ContextConfig } from './context-config.js';
import type { IdCaps } from './features.js';
import { streamFault, walkFault, type HwFault } from './hw-fault.js';
import type { WalkFault } from './lpae-walk.js';
import { decodeStreamConfig, type StreamConfig } from './stream-config.js';
import { traceCd, traceL1cd, traceL1std, traceSte } from './trace-config.js';
import type { WalkMode } from './walk-mode.js';

/** Where the stream table is, as STRTAB_BASE / STRTAB_BASE_CFG say. */
export interface StreamTableRegs {
  base: number;
  twoLevel: boolean;
  log2size: number;
  split: number;
}

/** Names of the caches a traced walk probes (WalkTracer.probe). */
export const CACHE_STE = 'configuration cache (STE)';
export const CACHE_CD = 'configuration cache (CD)';

/** The stage 2 translation of an IPA the SMMU fetches configuration or tables from. */
export type Stage2Fetch = (ste: StreamConfig, ipa: number) => number | WalkFault;

/**
 * The configuration lookups of a translation (SMMUv3 §3.3): the STE through the linear or
 * two-level stream table, then the CD through the linear or two-level CD table, from the
 * configuration cache or memory. CD tables of a nested stream are at IPAs, found by stage 2.
 */
export class ConfigFetch {
  private readonly steWords = new Uint32Array(STE_WORDS);
  private readonly cdWords = new Uint32Array(CD_WORDS);

  constructor(
    private readonly bus: Bus,
    private readonly caps: IdCaps,
    private readonly cache: ConfigCache,
    private readonly mode: WalkMode,
    private readonly s2Fetch: Stage2Fetch,
  ) {}

  /** The cached STE of `sid` the translation may use (none in a memory-only walk). */
  private cachedSte(sid: number): StreamConfig | undefined {
    const m = this.mode;
    if (!m.caches) return undefined;
    const hit = m.fill ? this.cache.ste(sid) : this.cache.peekSte(sid);
    if (m.tracer !== null) m.tracer.probe(CACHE_STE, hit !== undefined);
    return hit;
  }

  private cachedCd(sid: number, ssid: number): ContextConfig | undefined {
    const m = this.mode;
    if (!m.caches) return undefined;
    const hit = this.cache.cd(sid, ssid);
    if (m.tracer !== null) m.tracer.probe(CACHE_CD, hit !== undefined);
    return hit;
  }

  /** The stream's configuration: from the cache, or fetched from the stream table. */
  streamConfig(sid: number, strtab: StreamTableRegs, ssid: number, ssv: boolean): StreamConfig | HwFault {
    const hit = this.cachedSte(sid);
    if (hit) return hit;
    const t = this.mode.tracer;
    const bad = (event: number, extra: Partial<HwFault> = {}): HwFault => ({ event, sid, ssid, ssv, recordable: true, stallable: false, ...extra });
    if (sid >= 2 ** strtab.log2size) return bad(EVENT.C_BAD_STREAMID, { reason: `StreamID ${sid} ≥ 2^LOG2SIZE` });
    let steAddr: number;
    let index = sid;
    if (strtab.twoLevel) {
      const l1Index = Math.floor(sid / 2 ** strtab.split);
      const l1 = strtab.base + l1Index * 8;
      if (!this.bus.present(l1, 8)) return bad(EVENT.F_STE_FETCH, { fetchAddr: l1 });
      const d = [this.bus.u32(l1), this.bus.u32(l1 + 4)];
      const span = getField(d, 0, L1STD.Span);
      const low = sid % 2 ** strtab.split;
      const l2ptr = getAddr(d, 0, L1STD_L2PTR);
      // SMMUv3 §5.1: Span 0 is invalid, one above SPLIT + 1 reserved; Span n covers 2^(n-1) STEs.
      const covers = span !== 0 && span <= strtab.split + 1 && low < 2 ** (span - 1);
      if (t !== null) {
        const why = span === 0 ? 'Span = 0 (invalid)' : covers ? `Span = ${span}: level 2 table of ${2 ** (span - 1)} STEs at 0x${l2ptr.toString(16)}` : `Span = ${span} does not cover StreamID ${sid}`;
        traceL1std(t, l1, l1Index, d[0], d[1], span, l2ptr, why);
      }
      if (!covers) return bad(EVENT.C_BAD_STREAMID, { reason: `L1STD Span ${span} does not cover StreamID ${sid}` });
      steAddr = l2ptr + low * STE_BYTES;
      index = low;
    } else {
      steAddr = strtab.base + sid * STE_BYTES;
    }
    if (!this.bus.present(steAddr, STE_BYTES)) return bad(EVENT.F_STE_FETCH, { fetchAddr: steAddr });
    this.bus.readWords(steAddr, this.steWords);
    const cfg = decodeStreamConfig(sid, this.steWords, this.caps);
    if (t !== null) traceSte(t, steAddr, index, this.steWords, typeof cfg === 'string' ? cfg : null);
    if (typeof cfg === 'string') return bad(EVENT.C_BAD_STE, { reason: cfg });
    if (this.mode.fill) this.cache.putSte(cfg);
    return cfg;
  }

  /**
   * The stage 1 context of a transaction (null: stage 1 is bypassed), or the fault the STE gives
   * it (SMMUv3 §3.9: S1CDMax, S1DSS).
   */
  context(ste: StreamConfig, sid: number, ssid: number, ssv: boolean): ContextConfig | HwFault | null {
    if (ste.abort) return streamFault(0, sid, ssid, ssv, ste, 'STE.Config is abort', false);
    // A SubstreamID needs stage 1 (STE.Config[0] = 0 terminates it with C_BAD_SUBSTREAMID).
    if (ssv && !ste.s1) return streamFault(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, 'a SubstreamID on a stream without stage 1');
    if (!ste.s1) return null;
    if (ssv) {
      if (ste.s1cdmax === 0 || ssid >= POW2[ste.s1cdmax]) return streamFault(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, `SubstreamID ${ssid} is beyond S1CDMax ${ste.s1cdmax}`);
      if (ssid === 0 && ste.s1dss === S1DSS_SSID0) return streamFault(EVENT.C_BAD_SUBSTREAMID, sid, ssid, ssv, ste, 'SubstreamID 0 is reserved by S1DSS=SSID0');
    } else if (ste.s1cdmax > 0) {
      if (ste.s1dss === S1DSS_TERMINATE) return streamFault(EVENT.F_STREAM_DISABLED, sid, ssid, ssv, ste, 'S1DSS terminates transactions without a SubstreamID');
      if (ste.s1dss === S1DSS_BYPASS) return null;
    }
    return this.contextConfig(ste, ssid, ssv);
  }

  /** Reads configuration bytes at a PA or (nested) IPA; returns the PA or the fault. */
  private cfgAddr(ste: StreamConfig, addr: number, bytes: number, ssid: number, ssv: boolean): number | HwFault {
    let pa = addr;
    if (ste.s2) {
      const r = this.s2Fetch(ste, addr);
      if (typeof r !== 'number') return walkFault(r, ste, ssid, ssv, CLASS_CD);
      pa = r;
    }
    if (!this.bus.present(pa, bytes)) {
      return { event: EVENT.F_CD_FETCH, sid: ste.sid, ssid, ssv, fetchAddr: pa, recordable: true, stallable: false, ste };
    }
    return pa;
  }

  private contextConfig(ste: StreamConfig, ssid: number, ssv: boolean): ContextConfig | HwFault {
    const hit = this.cachedCd(ste.sid, ssid);
    if (hit) return hit;
    const t = this.mode.tracer;
    const bad = (event: number, reason: string): HwFault => ({ event, sid: ste.sid, ssid, ssv, recordable: true, stallable: false, reason, ste });
    let cdAddr: number;
    let index = ssid;
    if (ste.s1cdmax === 0 || ste.s1fmt === S1FMT_LINEAR) {
      cdAddr = ste.ctxPtr + ssid * CD_BYTES;
    } else {
      const split = ste.s1fmt === S1FMT_4K_L2 ? CD_SPLIT_4K : CD_SPLIT_64K;
      const l1Index = Math.floor(ssid / 2 ** split);
      const l1 = this.cfgAddr(ste, ste.ctxPtr + l1Index * 8, 8, ssid, ssv);
      if (typeof l1 !== 'number') return l1;
      const d = [this.bus.u32(l1), this.bus.u32(l1 + 4)];
      const v = getField(d, 0, L1CD.V);
      const l2ptr = getAddr(d, 0, L1CD_L2PTR);
      index = ssid % 2 ** split;
      if (t !== null) traceL1cd(t, l1, l1Index, d[0], d[1], v, l2ptr, v ? `V = 1: leaf CD table at 0x${l2ptr.toString(16)}` : 'V = 0');
      if (!v) return bad(EVENT.C_BAD_SUBSTREAMID, `L1CD for SubstreamID ${ssid} is not valid`);
      cdAddr = l2ptr + index * CD_BYTES;
    }
    const pa = this.cfgAddr(ste, cdAddr, CD_BYTES, ssid, ssv);
    if (typeof pa !== 'number') return pa;
    this.bus.readWords(pa, this.cdWords);
    const cd = decodeContextConfig(ssid, this.cdWords, this.caps, ste.s1stalld);
    if (t !== null) traceCd(t, pa, index, this.cdWords, cd);
    if (typeof cd === 'string') return bad(EVENT.C_BAD_CD, cd);
    if (this.mode.fill) this.cache.putCd(ste.sid, cd);
    return cd;
  }
}
