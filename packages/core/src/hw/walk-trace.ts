import type { FaultRecord } from '../base/errors.js';

/** A decoded field's value as a trace shows it. */
export type TraceFieldValue = bigint | number | boolean | string;

/**
 * One memory read the hardware made while translating a request: which structure it fetched, as
 * the vendor's specification names it, from where, what it held and what it meant.
 */
export interface TraceRead {
  /** The structure, by its specification name: 'root entry', 'context entry', 'STE', 'CD', 'TVE', 'PML4E', … */
  structure: string;
  /** Which translation the read belongs to: 'first-stage', 'second-stage', 'stage 1', 'stage 2', … */
  stage?: string;
  /** Page-table level as the vendor specification numbers it (absent for non-table structures). */
  level?: number;
  /** Index of the entry in its table or directory. */
  index?: number;
  /** Host-physical address of the entry, when it lives in memory. */
  addr?: bigint;
  /** Where an on-chip structure lives instead (a register file such as POWER's TVT): 'on-chip TVT'. */
  where?: string;
  /** The raw 64-bit words read, lowest address first. */
  raw: bigint[];
  /** Decoded fields, by their specification names. */
  fields: Record<string, TraceFieldValue>;
  /** The field (and value) that decided how the walk went on or why it stopped, e.g. 'P = 0'. */
  decided?: string;
  /**
   * The reads made to find `addr` itself when the structure lives at a guest-physical address
   * (a nested walk's stage-2 sub-walk for this fetch).
   */
  via?: TraceRead[];
}

/** A translation cache consulted on the way (hit or miss), when the walk used one. */
export interface TraceCacheProbe {
  cache: string;
  hit: boolean;
}

/** The whole record of one translation, in the order the hardware did it. */
export interface WalkTrace {
  /** Reads and cache probes in order. */
  events: (TraceRead | TraceCacheProbe)[];
  /** The output (host-physical) address of the request's byte, when the walk succeeded. */
  output?: bigint;
  perms?: { read: boolean; write: boolean };
  /** Size of the page the output lies in, when the walk reached a leaf. */
  pageSize?: bigint;
  /** The fault the request met, as the hardware would report it (not recorded anywhere). */
  fault?: FaultRecord;
  /** True when the trace stopped recording at its bound (a hostile structure). */
  truncated?: boolean;
}

export function isTraceRead(e: TraceRead | TraceCacheProbe): e is TraceRead {
  return (e as TraceRead).structure !== undefined;
}

/**
 * What a cache probe read of the unit's own cache entries: `count` doubles of `store` (the typed
 * array holding the cache's entries, e.g. an IOTLB's sets) from `index`. Kept beside the trace,
 * not in it: the array is the model's storage of an on-chip cache, which no address names. The
 * bench replays these reads as the baseline of a cache hit.
 */
export interface CacheRead {
  store: Float64Array;
  index: number;
  count: number;
}

/** What a cache's probe reports its reads to (a WalkTracer). */
export interface CacheReadRecorder {
  cacheRead(store: Float64Array, index: number, count: number): void;
}

/** Most reads one trace keeps (a bounded view of guest-controlled memory). */
export const TRACE_READ_LIMIT = 4096;

/**
 * Collects a trace. The hardware side calls `read` for every structure it fetches while a tracer
 * is attached (and `probe` for each cache it consults); `begin`/`end` bracket the sub-walk that
 * locates one guest-physical fetch, whose reads then appear under the next `read`'s `via`;
 * `leaf` notes the permissions and page size the walk found; `finish` closes it.
 */
export class WalkTracer implements CacheReadRecorder {
  readonly trace: WalkTrace = { events: [] };
  /** The cache probes' reads of their entries, in order (see CacheRead; bounded as the reads are). */
  readonly cacheReads: CacheRead[] = [];
  private count = 0;
  private sub: TraceRead[] | undefined;
  private pendingVia: TraceRead[] | undefined;

  read(r: TraceRead): void {
    if (this.count >= TRACE_READ_LIMIT) {
      this.trace.truncated = true;
      return;
    }
    this.count++;
    if (this.sub) {
      this.sub.push(r);
      return;
    }
    if (this.pendingVia) {
      r.via = this.pendingVia;
      this.pendingVia = undefined;
    }
    this.trace.events.push(r);
  }

  probe(cache: string, hit: boolean): void {
    if (!this.sub) this.trace.events.push({ cache, hit });
  }

  /** A probe of a cache read `count` doubles of its entries' array `store` from `index` (see CacheRead). */
  cacheRead(store: Float64Array, index: number, count: number): void {
    if (this.cacheReads.length < TRACE_READ_LIMIT) this.cacheReads.push({ store, index, count });
  }

  /** Starts the sub-walk that finds a guest-physical address; its reads go under the next read. */
  begin(): void {
    this.flushVia();
    this.sub = [];
  }

  end(): void {
    if (this.sub?.length) this.pendingVia = this.sub;
    this.sub = undefined;
  }

  /** The leaf the walk ended on: its permissions and the size of the page it maps. */
  leaf(perms: { read: boolean; write: boolean }, pageSize?: bigint): void {
    this.trace.perms = perms;
    if (pageSize !== undefined) this.trace.pageSize = pageSize;
  }

  /**
   * Ends the trace with what the walk returned (core calls it): the host frame, to which the
   * request's byte offset is added, or the fault record.
   */
  finish(result: number | FaultRecord, offset: number): WalkTrace {
    this.end();
    this.flushVia();
    if (typeof result === 'number') this.trace.output = BigInt(result) * 4096n + BigInt(offset);
    else this.trace.fault = result;
    return this.trace;
  }

  /** A sub-walk that ended the translation (a stage-2 fault) shows its reads at the top. */
  private flushVia(): void {
    if (this.pendingVia) this.trace.events.push(...this.pendingVia);
    this.pendingVia = undefined;
  }
}
