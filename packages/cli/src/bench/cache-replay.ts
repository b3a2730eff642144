import type { CacheRead } from '@ioasid/core';
import { nowNs, sink } from './measure.js';

/**
 * The reads some cache hits made of the unit's own cache entries, as the traced probes reported
 * them (WalkTracer.cacheReads), one double per element, packed for replay. The stores are the
 * unit's arrays themselves, so a replay touches exactly the memory the hits touched.
 */
export interface RecordedCacheReads {
  /** The distinct arrays read (one, for every built-in unit: its IOTLB's entries). */
  stores: Float64Array[];
  /** Per element: index in its store. */
  index: Int32Array;
  /** Per element: which store (only looked at when there are several). */
  store: Uint8Array;
  /** Elements of hit t: [starts[t], starts[t+1]). */
  starts: Int32Array;
}

/** Packs the cache reads of each hit (one CacheRead list per translation). */
export function recordCacheReads(hits: readonly (readonly CacheRead[])[]): RecordedCacheReads {
  const n = hits.reduce((a, h) => h.reduce((b, x) => b + x.count, a), 0);
  const stores: Float64Array[] = [];
  const r: RecordedCacheReads = { stores, index: new Int32Array(n), store: new Uint8Array(n), starts: new Int32Array(hits.length + 1) };
  let e = 0;
  hits.forEach((h, t) => {
    r.starts[t] = e;
    for (const x of h) {
      let s = stores.indexOf(x.store);
      if (s < 0) s = stores.push(x.store) - 1;
      if (s > 255) throw new RangeError('cache reads from more than 256 arrays');
      for (let j = 0; j < x.count; j++, e++) {
        r.index[e] = x.index + j;
        r.store[e] = s;
      }
    }
  });
  r.starts[hits.length] = e;
  return r;
}

/**
 * Baseline for a cache hit: replays the recorded reads of each hit over the cache's own arrays,
 * the reads of one hit side by side (the ways of a set are compared at once, their addresses
 * coming from the request alone) and hits independent of each other, as the model's look-ups
 * are. Returns ns per hit.
 */
export function replayCacheReads(rec: RecordedCacheReads): () => number {
  const hits = rec.starts.length - 1;
  return () => {
    const t = nowNs();
    const acc = replayCacheOnce(rec);
    const ns = (nowNs() - t) / hits;
    sink(acc);
    return ns;
  };
}

/** One replay of every hit: the sum of every value read (what keeps the reads from being dropped). */
export function replayCacheOnce(rec: RecordedCacheReads): number {
  return rec.stores.length === 1 ? replayOneStore(rec.stores[0], rec.index, rec.starts) : replayStores(rec);
}

/**
 * The replay loop when every read is of one array (a function of its own, as the other
 * baselines' loops, so it is optimised like any hot function). The values are summed as doubles:
 * a XOR would take ToInt32 of each, which for a tag word above 2^31 is a slow call the model's
 * own compares never make.
 */
function replayOneStore(a: Float64Array, index: Int32Array, starts: Int32Array): number {
  const hits = starts.length - 1;
  let acc = 0;
  for (let t = 0; t < hits; t++) {
    let v = 0;
    for (let e = starts[t], end = starts[t + 1]; e < end; e++) v += a[index[e]];
    acc += v;
  }
  return acc;
}

/** The replay loop for reads of several arrays. */
function replayStores(rec: RecordedCacheReads): number {
  const { stores, index, store, starts } = rec;
  const hits = starts.length - 1;
  let acc = 0;
  for (let t = 0; t < hits; t++) {
    let v = 0;
    for (let e = starts[t], end = starts[t + 1]; e < end; e++) v += stores[store[e]][index[e]];
    acc += v;
  }
  return acc;
}
