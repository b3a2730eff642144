/** Timing helpers: every figure is a ratio against a baseline run interleaved in the same process. */

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Runs subject and baseline alternately `runs` times; returns the medians of each (ns per op). */
export function interleaved(runs: number, subject: () => number, baseline: () => number): { subject: number; baseline: number } {
  const a: number[] = [];
  const b: number[] = [];
  // Discarded rounds, so both sides are compiled by the optimiser before they are timed.
  for (let w = 0; w < 4; w++) {
    baseline();
    subject();
  }
  for (let r = 0; r < runs; r++) {
    if (r % 2 === 0) {
      b.push(baseline());
      a.push(subject());
    } else {
      a.push(subject());
      b.push(baseline());
    }
  }
  return { subject: median(a), baseline: median(b) };
}

/** Baseline "physical limit": writing `entries` 64-bit entries (two 32-bit words) into a preallocated typed array. */
export function entryWriteBaseline(entries: number): () => number {
  const words = new Uint32Array(entries * 2);
  return () => {
    const t = nowNs();
    for (let i = 0; i < entries; i++) {
      words[2 * i] = ((i << 12) | 3) >>> 0;
      words[2 * i + 1] = i >>> 20;
    }
    return (nowNs() - t) / entries;
  };
}

/** Baseline for a hit: Map.get on `keys` of a Map holding them. */
export function mapGetBaseline(keys: number[]): () => number {
  const m = new Map<number, number>();
  for (const k of keys) m.set(k, k ^ 0x5a5a);
  return () => {
    let acc = 0;
    const t = nowNs();
    for (const k of keys) acc ^= m.get(k)!;
    const ns = (nowNs() - t) / keys.length;
    sink(acc);
    return ns;
  };
}

/** Baseline for a walk: as many chains of `levels` dependent typed-array reads. */
export function chainBaseline(count: number, levels: number): () => number {
  const size = 1 << 20;
  const arr = new Uint32Array(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    arr[i] = x & (size - 1);
  }
  const starts = Array.from({ length: count }, (_, i) => (i * 2654435761) & (size - 1));
  return () => {
    let acc = 0;
    const t = nowNs();
    for (const s of starts) {
      let p = s;
      for (let l = 0; l < levels; l++) p = arr[p];
      acc ^= p;
    }
    const ns = (nowNs() - t) / count;
    sink(acc);
    return ns;
  };
}

let sinkValue = 0;
/** Keeps results alive so the optimiser cannot drop the measured work. */
export function sink(v: number): void {
  sinkValue ^= v;
}
export function sunk(): number {
  return sinkValue;
}
