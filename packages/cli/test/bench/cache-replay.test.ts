import { describe, expect, it, vi } from 'vitest';
import { WalkTracer } from '@ioasid/core';
import { recordCacheReads, replayCacheOnce, replayCacheReads } from '../../src/bench/cache-replay.js';
import { translate } from '../../src/bench/translate.js';

/** An entry array whose every element is NaN but the ones given: a replay that read anything else would sum to NaN. */
function store(len: number, values: Record<number, number>): Float64Array {
  const a = new Float64Array(len).fill(NaN);
  for (const [i, v] of Object.entries(values)) a[Number(i)] = v;
  return a;
}

describe('translate-hit baseline: replaying the cache probes reads', () => {
  it('packs each hit into one element per double read, in order', () => {
    const a = store(16, { 0: 1, 1: 2, 8: 3, 9: 4, 12: 5 });
    const rec = recordCacheReads([
      [
        { store: a, index: 0, count: 2 },
        { store: a, index: 8, count: 2 },
      ],
      [{ store: a, index: 12, count: 1 }],
    ]);
    expect(rec.stores).toEqual([a]);
    expect([...rec.index]).toEqual([0, 1, 8, 9, 12]);
    expect([...rec.starts]).toEqual([0, 4, 5]);
  });

  it('reads exactly the recorded elements: of one array, and of several', () => {
    // Tag words above 2^31, as POWER's and RISC-V's entries hold, are summed exactly.
    const a = store(32, { 4: 2 ** 40 + 7, 5: 11, 20: 13 });
    const b = store(8, { 3: 17 });
    const one = recordCacheReads([[{ store: a, index: 4, count: 2 }], [{ store: a, index: 20, count: 1 }]]);
    expect(replayCacheOnce(one)).toBe(2 ** 40 + 7 + 11 + 13);
    const two = recordCacheReads([[{ store: a, index: 20, count: 1 }, { store: b, index: 3, count: 1 }], [{ store: a, index: 5, count: 1 }]]);
    expect(two.stores).toEqual([a, b]);
    expect(replayCacheOnce(two)).toBe(13 + 17 + 11);
    expect(replayCacheReads(two)()).toBeGreaterThan(0);
  });
});

describe('translate-hit on a unit whose probes report nothing', () => {
  it('is unsupported, saying why, while translate-walk still runs', async () => {
    await import('@ioasid/power-tce');
    const report = vi.spyOn(WalkTracer.prototype, 'cacheRead').mockImplementation(() => {});
    try {
      const rows = translate('power-tce', { rounds: 3, warmMs: 0, mapPages: 0, lookups: 256, bigGiB: 0, harvestBytes: 0n, quick: true });
      expect(rows.find((r) => r.name === 'translate-hit')).toMatchObject({ target: 'unsupported', note: expect.stringMatching(/^unsupported: the unit's cache probes report no reads \(WalkTracer\.cacheRead\)/) });
      expect(rows.find((r) => r.name === 'translate-walk')!.ratio).toBeGreaterThan(0);
      expect(report).toHaveBeenCalled();
    } finally {
      report.mockRestore();
    }
  });
});
