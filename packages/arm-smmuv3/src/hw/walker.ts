import { INV_POW2, POW2, type WalkTracer } from '@ioasid/core';
import { CLASS_IN, CLASS_TT, EVENT } from '../tables/events.js';
import type { Bus } from './bus.js';
import { ConfigCache } from './config-cache.js';
import { ConfigFetch, type StreamTableRegs } from './config-fetch.js';
import type { ContextConfig } from './context-config.js';
import type { IdCaps } from './features.js';
import { walkFault, type HwFault } from './hw-fault.js';
import { P_PRIV_R, P_PRIV_W, P_S1_ALL, P_S2_ALL, P_S2_R, P_S2_W, P_USER_R, P_USER_W, newWalkResult, permissionFailure, walkInto, type StageConfig, type WalkFault } from './lpae-walk.js';
import type { StreamConfig } from './stream-config.js';
import { NO_ASID, nhTag, Tlb } from './tlb.js';
import { fetchPermissionDecided, permissionDecided } from './trace-descriptors.js';
import type { WalkMode } from './walk-mode.js';

export type { HwFault, StreamTableRegs };

/** The low `bits` bits of a non-negative integer below 2^53 (exact; avoids a float modulo). */
function lowBits(x: number, bits: number): number {
  return x - Math.floor(x * INV_POW2[bits]) * POW2[bits];
}

/** Name of the TLB for a traced walk's probe (WalkTracer.probe). */
export const CACHE_TLB = 'TLB';

/** okEntry when nothing was translated (both stages bypassed). */
const NO_ENTRY = -1;

/**
 * The SMMU's translation path (SMMUv3 §3: STE → CD → stage 1 → stage 2), reading only the bus,
 * the register values it is given and its own caches. One path serves DMA and traced walks: the
 * mode (WalkMode) says whether caches are consulted and filled and where reads are recorded.
 * A traced walk runs with the caches it would fill swapped for private ones (an empty
 * configuration cache, a scratch TLB emptied before each walk), so the same code leaves the
 * unit's own caches untouched and a DMA's hit path pays nothing for tracing.
 */
export class Walker implements WalkMode {
  tracer: WalkTracer | null = null;
  caches = true;
  fill = true;
  /** The caches translation reads and fills: the unit's, or a traced walk's private ones. */
  private cache: ConfigCache;
  private tlb: Tlb;
  private readonly noCache = new ConfigCache();
  private scratchTlb: Tlb | null = null;
  private readonly config: ConfigFetch;
  /** Leaves of the stage 1 walk, and of stage 2 walks (the final one and those fetching stage 1 tables). */
  private readonly s1Leaf = newWalkResult();
  private readonly s2Leaf = newWalkResult();
  private readonly fetchS2 = (a: number, w?: boolean): number | WalkFault => this.s2Fetch(this.fetchSte!, a, w === true);
  private fetchSte: StreamConfig | null = null;
  /** First 4 KiB input frame beyond the IAS, and beyond the OAS. */
  private readonly iasFrames: number;
  private readonly oasFrames: number;
  /** The stream configuration and permissions of the last successful translate(). */
  okSte: StreamConfig | null = null;
  okPerms = 0;
  /** The TLB entry (NO_ENTRY: none) and input frame of the last successful translate(). */
  private okEntry = NO_ENTRY;
  private okInput = 0;

  constructor(
    private readonly bus: Bus,
    private readonly caps: IdCaps,
    private readonly unitCache: ConfigCache,
    private readonly unitTlb: Tlb,
  ) {
    this.cache = unitCache;
    this.tlb = unitTlb;
    this.iasFrames = POW2[caps.iasBits - 12];
    this.oasFrames = POW2[caps.oasBits - 12];
    this.config = new ConfigFetch(bus, caps, unitCache, this, (ste, ipa) => this.s2Fetch(ste, ipa));
  }

  /** Runs `fn` as a traced walk: reads go to `tracer`, caches are probed only with `caches`, nothing is filled. */
  traced<T>(tracer: WalkTracer, caches: boolean, fn: () => T): T {
    this.tracer = tracer;
    this.caches = caches;
    this.fill = false;
    this.scratchTlb ??= new Tlb();
    this.scratchTlb.invalidateAll();
    this.tlb = this.scratchTlb;
    this.cache = this.noCache;
    this.s1Leaf.read = null;
    this.s2Leaf.read = null;
    try {
      return fn();
    } finally {
      this.tracer = null;
      this.caches = true;
      this.fill = true;
      this.tlb = this.unitTlb;
      this.cache = this.unitCache;
    }
  }

  /** The stream's configuration: from the cache, or fetched from the stream table. */
  streamConfig(sid: number, strtab: StreamTableRegs, ssid: number, ssv: boolean): StreamConfig | HwFault {
    return this.config.streamConfig(sid, strtab, ssid, ssv);
  }

  /**
   * Stage 2 translation of an address the SMMU fetches for stage 1 (CD or table), read access.
   * A traced walk brackets it, so its reads show under the fetch they locate.
   */
  private s2Fetch(ste: StreamConfig, ipa: number, write = false): number | WalkFault {
    const t = this.tracer;
    if (t !== null) t.begin();
    const r = this.s2Fetched(ste, ipa, write);
    if (t !== null) t.end();
    return r;
  }

  private s2Fetched(ste: StreamConfig, ipa: number, write: boolean): number | WalkFault {
    const s2 = ste.s2cfg!;
    const r = this.s2Leaf;
    // A write here is a hardware update of a stage 1 descriptor: stage 2 must allow it.
    const f = walkInto(this.bus, s2, ipa, undefined, r, this.tracer, write, this.tracer === null);
    if (f !== null) return { ...f, duringFetch: true };
    const readable = (r.perms & P_S2_R) !== 0 && (!write || (r.perms & P_S2_W) !== 0);
    // S2PTW: a stage 1 walk that lands on Device memory at stage 2 is a stage 2 permission fault.
    if (!readable || (ste.s2ptw && (r.memAttr & 0xc) === 0)) {
      if (r.read !== null) r.read.decided = fetchPermissionDecided(r.read, readable);
      return { ok: false, event: EVENT.F_PERMISSION, stage: 2, lpaeLevel: r.lpaeLevel, ipa, duringFetch: true };
    }
    return r.outBase + lowBits(ipa, r.shift);
  }

  /**
   * Translates one 4 KiB input frame for (sid, ssid): the output frame (then `okSte` and
   * `okPerms` describe the translation), or the fault.
   */
  translate(strtab: StreamTableRegs, sid: number, pasid: number, iovaFrame: number, write: boolean, privileged: boolean): number | HwFault {
    const ste = this.cache.ste(sid);
    // Anything but a stage-2-only stream without a SubstreamID needs its STE's checks and a CD.
    if (ste === undefined || ste.s1 || !ste.s2 || pasid >= 0) return this.withConfig(ste, strtab, sid, pasid, iovaFrame, write, privileged);
    return this.fromContext(ste, null, sid, 0, false, iovaFrame, write, privileged);
  }

  /** `translate` once the STE is fetched (when not cached) and the stage 1 context found: abort, bypass, a CD. */
  private withConfig(cached: StreamConfig | undefined, strtab: StreamTableRegs, sid: number, pasid: number, iovaFrame: number, write: boolean, privileged: boolean): number | HwFault {
    const ssv = pasid >= 0;
    const ssid = ssv ? pasid : 0;
    let ste = cached;
    if (ste === undefined) {
      const r = this.config.streamConfig(sid, strtab, ssid, ssv);
      if ('event' in r) return r;
      ste = r;
    }
    let cd: ContextConfig | null = null;
    // Anything but a stage-2-only stream without a SubstreamID: abort, bypass, stage 1 contexts.
    if (ste.s1 || !ste.s2 || ssv) {
      const c = this.config.context(ste, sid, ssid, ssv);
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
    return e === NO_ENTRY ? this.okInput : this.tlb.entryIpa(e) + (this.okInput - this.tlb.entryBase(e));
  }

  /**
   * A traced walk's TLB miss (its scratch TLB is empty): with `caches`, the unit's TLB is
   * probed without being touched and a hit, stale or not, is what the DMA would use; otherwise,
   * or on a miss, the tables are walked. The entry lands in the scratch TLB.
   */
  private tracedEntry(t: WalkTracer, tag: number, iovaFrame: number, ste: StreamConfig, cd: ContextConfig | null, ssid: number, ssv: boolean, privileged: boolean, write: boolean, probe = true): number | HwFault {
    const hit = this.caches && probe ? this.unitTlb.peek(tag, iovaFrame, t) : -1;
    if (this.caches && probe) t.probe(CACHE_TLB, hit >= 0);
    let e: number;
    if (hit >= 0) {
      const u = this.unitTlb;
      this.s1Leaf.read = null;
      this.s2Leaf.read = null;
      e = this.tlb.insert(tag, u.entryOrder(hit), u.entryBase(hit), u.entryOut(hit), u.entryIpa(hit), u.entryPerms(hit));
    } else {
      const f = this.walk(tag, iovaFrame, ste, cd, ssid, ssv, write);
      if (typeof f !== 'number') return f;
      e = f;
    }
    // The leaf the walk ended on: what it allows at this privilege, and the size of the translation.
    const perms = this.tlb.entryPerms(e);
    const rd = (privileged ? P_PRIV_R : P_USER_R) | P_S2_R;
    const wr = (privileged ? P_PRIV_W : P_USER_W) | P_S2_W;
    t.leaf({ read: (perms & rd) === rd, write: (perms & wr) === wr }, 4096n << BigInt(this.tlb.entryOrder(e)));
    return e;
  }

  /** Translation once the stage 1 context is known (null: stage 1 bypassed). */
  private fromContext(ste: StreamConfig, cd: ContextConfig | null, sid: number, ssid: number, ssv: boolean, iovaFrame: number, write: boolean, privileged: boolean): number | HwFault {
    if (cd === null && (!ste.s2 || iovaFrame >= this.iasFrames)) return this.bypassed(ste, sid, ssid, ssv, iovaFrame);
    const tlb = this.tlb;
    const e = tlb.lookup(ste.vmid, cd !== null ? cd.asid : NO_ASID, iovaFrame);
    // Stage 1 (privileged or not) and stage 2 permission for the access, both needed.
    const need = (privileged ? (write ? P_PRIV_W : P_PRIV_R) : write ? P_USER_W : P_USER_R) | (write ? P_S2_W : P_S2_R);
    const perms = e < 0 ? 0 : tlb.entryPerms(e);
    if ((perms & need) !== need) return this.fromMiss(ste, cd, e, sid, ssid, ssv, iovaFrame, write, privileged, need);
    this.okSte = ste;
    this.okPerms = perms;
    this.okEntry = e;
    this.okInput = iovaFrame;
    return tlb.outFor(e, iovaFrame);
  }

  /**
   * Stage 1 bypassed (STE.Config or S1DSS). SMMUv3 §3.4 (Address sizes): the input address goes
   * to stage 2 as an IPA and must be below 2^IAS, or, with stage 2 bypassed too, leaves as the PA
   * and must be below 2^OAS; otherwise a stage 1 Address Size fault (F_ADDR_SIZE, S2 = 0,
   * CLASS = IN) ends the transaction. QEMU smmu_ptw checks the IAS the same way. Nothing
   * translates and nothing is cached when stage 2 is bypassed as well.
   */
  private bypassed(ste: StreamConfig, sid: number, ssid: number, ssv: boolean, iovaFrame: number): number | HwFault {
    if (iovaFrame >= (ste.s2 ? this.iasFrames : this.oasFrames)) {
      const reason = `input address beyond the ${ste.s2 ? `${this.caps.iasBits}-bit IAS` : `${this.caps.oasBits}-bit OAS`} with stage 1 bypassed`;
      return { event: EVENT.F_ADDR_SIZE, sid, ssid, ssv, stage: 1, cls: CLASS_IN, recordable: true, stallable: false, ste, reason };
    }
    return this.ok(iovaFrame, ste, P_S1_ALL | P_S2_ALL);
  }

  /**
   * A TLB miss (e < 0), or a hit that does not grant the access: a miss walks the tables and
   * fills the TLB; the access then completes from the new entry, exactly as a hit does.
   */
  private fromMiss(ste: StreamConfig, cd: ContextConfig | null, hit: number, sid: number, ssid: number, ssv: boolean, iovaFrame: number, write: boolean, privileged: boolean, need: number): number | HwFault {
    const tlb = this.tlb;
    const tag = cd !== null ? nhTag(ste.vmid, cd.asid) : ste.s2tag;
    let e = hit;
    if (e < 0) {
      const f = this.tracer === null ? this.walk(tag, iovaFrame, ste, cd, ssid, ssv, write) : this.tracedEntry(this.tracer, tag, iovaFrame, ste, cd, ssid, ssv, privileged, write);
      if (typeof f !== 'number') return f;
      e = f;
    }
    let perms = tlb.entryPerms(e);
    if ((perms & need) !== need && write && ((cd !== null && cd.s1cfg.hd) || (ste.s2 && ste.s2cfg!.hd))) {
      // A write the cached entry does not grant, with dirty state managed: the leaf may be
      // writable-clean (an entry filled by a read keeps it read-only). The unit drops the entry
      // and walks again for the write, which makes the leaf writable-dirty in memory.
      tlb.evict(e);
      const f = this.tracer === null ? this.walk(tag, iovaFrame, ste, cd, ssid, ssv, true) : this.tracedEntry(this.tracer, tag, iovaFrame, ste, cd, ssid, ssv, privileged, true, false);
      if (typeof f !== 'number') return f;
      e = f;
      perms = tlb.entryPerms(e);
    }
    if ((perms & need) !== need) return this.permissionFault(e, iovaFrame, perms, write, privileged, ste, cd, ssid, ssv);
    return this.completed(ste, e, perms, iovaFrame);
  }

  /** The output frame of `iovaFrame` through TLB entry `e`, which grants the access. */
  private completed(ste: StreamConfig, e: number, perms: number, iovaFrame: number): number {
    this.okSte = ste;
    this.okPerms = perms;
    this.okEntry = e;
    this.okInput = iovaFrame;
    return this.tlb.outFor(e, iovaFrame);
  }

  private permissionFault(e: number, iovaFrame: number, perms: number, write: boolean, privileged: boolean, ste: StreamConfig, cd: ContextConfig | null, ssid: number, ssv: boolean): HwFault {
    const fail = permissionFailure(perms, write, privileged);
    const offset = iovaFrame - this.tlb.entryBase(e);
    if (this.tracer !== null) {
      // The leaf this walk read at the failing stage says which bits forbid the access.
      const read = fail === 2 ? this.s2Leaf.read : this.s1Leaf.read;
      if (read !== null) read.decided = permissionDecided(read, fail === 2 ? 2 : 1, write, privileged);
    }
    return walkFault(
      { ok: false, event: EVENT.F_PERMISSION, stage: fail === 2 ? 2 : 1, lpaeLevel: 3, ipa: fail === 2 ? (this.tlb.entryIpa(e) + offset) * 4096 : undefined },
      ste, ssid, ssv, CLASS_TT, cd ?? undefined,
    );
  }

  private ok(frame: number, ste: StreamConfig, perms: number): number {
    if (this.tracer !== null) this.tracer.leaf({ read: true, write: true });
    this.okSte = ste;
    this.okPerms = perms;
    this.okEntry = NO_ENTRY;
    this.okInput = frame;
    return frame;
  }

  /** The table walk of a TLB miss: fills the TLB (returning the entry's index), or returns the fault. */
  private walk(tag: number, iovaFrame: number, ste: StreamConfig, cd: ContextConfig | null, ssid: number, ssv: boolean, write: boolean): number | HwFault {
    // Hardware updates (AF, dirty state) are written by DMA walks only, never by a traced walk.
    const update = this.tracer === null;
    const input = iovaFrame * 4096;
    let ipa = input;
    let out = input;
    let shift = 64;
    let perms = P_S1_ALL;
    if (this.tracer !== null) {
      this.s1Leaf.read = null;
      this.s2Leaf.read = null;
    }
    if (cd) {
      if (cd.epd0) return walkFault({ ok: false, event: EVENT.F_TRANSLATION, stage: 1, lpaeLevel: cd.s1cfg.geo.startLevel }, ste, ssid, ssv, CLASS_TT, cd);
      const s1: StageConfig = cd.s1cfg;
      const r = this.s1Leaf;
      this.fetchSte = ste;
      const f = walkInto(this.bus, s1, input, ste.s2 ? this.fetchS2 : undefined, r, this.tracer, write, update);
      if (f !== null) return walkFault(f, ste, ssid, ssv, CLASS_TT, cd);
      ipa = r.outBase + lowBits(input, r.shift);
      out = ipa;
      shift = r.shift;
      perms = r.perms;
    }
    if (ste.s2) {
      const r = this.s2Leaf;
      const f = walkInto(this.bus, ste.s2cfg!, ipa, undefined, r, this.tracer, write, update);
      if (f !== null) return walkFault(f, ste, ssid, ssv, CLASS_IN, cd ?? undefined);
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
