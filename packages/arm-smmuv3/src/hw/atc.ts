/**
 * The endpoints' side of ATS: each PCIe function with ATS enabled caches completed translations
 * in its Address Translation Cache (per SubstreamID, 4 KiB entries). Only ATC_INV commands
 * (forwarded by the SMMU as ATS invalidation requests) remove entries. PRI enablement lives
 * here too: a function with PRI enabled turns a stage 1 translation fault into a page request.
 */
export interface Endpoint {
  atsEnabled: boolean;
  priEnabled: boolean;
  /** ssid (-1 = no PASID) → frame → host frame × 4 + perms (bit 0 read, bit 1 write). */
  readonly atc: Map<number, Map<number, number>>;
  /** Outstanding page request group indexes → true, and the responses received. */
  readonly pendingPrgs: Set<number>;
  readonly responses: { prgIndex: number; ssid: number; code: number }[];
  nextPrg: number;
}

export const ATC_READ = 1;
export const ATC_WRITE = 2;

export class Endpoints {
  private readonly eps = new Map<number, Endpoint>();
  /** The StreamID peeked last and what it found (endpoints are never removed). */
  private lastSid = -1;
  private lastEp: Endpoint | undefined = undefined;

  get(sid: number): Endpoint {
    let e = this.eps.get(sid);
    if (!e) {
      e = { atsEnabled: false, priEnabled: false, atc: new Map(), pendingPrgs: new Set(), responses: [], nextPrg: 0 };
      this.eps.set(sid, e);
      if (sid === this.lastSid) this.lastEp = e;
    }
    return e;
  }

  peek(sid: number): Endpoint | undefined {
    if (sid === this.lastSid) return this.lastEp;
    const e = this.eps.get(sid);
    this.lastSid = sid;
    this.lastEp = e;
    return e;
  }

  atcLookup(sid: number, ssid: number, frame: number): number | undefined {
    return this.eps.get(sid)?.atc.get(ssid)?.get(frame);
  }

  atcInsert(sid: number, ssid: number, frame: number, value: number): void {
    const e = this.get(sid);
    let m = e.atc.get(ssid);
    if (!m) {
      m = new Map();
      e.atc.set(ssid, m);
    }
    m.set(frame, value);
  }

  /** ATC_INV: `ssid` null = every PASID and no-PASID entry; span of 2^size4k frames at `first`. */
  atcInvalidate(sid: number, ssid: number | null, first: number, log2Frames: number): void {
    const e = this.eps.get(sid);
    if (!e) return;
    const maps = ssid === null ? [...e.atc.values()] : [e.atc.get(ssid)].filter((m): m is Map<number, number> => !!m);
    const all = log2Frames >= 40;
    const span = 2 ** Math.min(log2Frames, 40);
    const lo = first - (first % span);
    for (const m of maps) {
      if (all) {
        m.clear();
        continue;
      }
      if (span <= m.size) for (let f = lo; f < lo + span; f++) m.delete(f);
      else for (const f of [...m.keys()]) if (f >= lo && f < lo + span) m.delete(f);
    }
  }

  atcEntries(sid: number): number {
    let n = 0;
    for (const m of this.eps.get(sid)?.atc.values() ?? []) n += m.size;
    return n;
  }
}
