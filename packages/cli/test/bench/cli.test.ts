import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/program.js';
import { memoryIo } from '../../src/io.js';

interface JsonRow {
  vendor: string;
  name: string;
  value: number | null;
  baseline: number | null;
  ratio: number | null;
  median: number | null;
  min: number | null;
  max: number | null;
  rounds: number;
  replaced: number;
  verdict: 'met' | 'missed' | 'unstable' | 'report';
  target: { max: number; of: 'ratio' | 'value' } | null;
  met: boolean | null;
  note?: string;
}

describe('ioasid bench --quick --json (issue 22)', () => {
  it('the new rows, each with a median, its spread, a verdict and a numeric target', async () => {
    const io = memoryIo();
    const code = await runCli(['bench', '--quick', '--json', '--vendor', 'arm-smmuv3', '--only', 'map-4k-cold,alloc-scaling,translate-walk,dirty-harvest'], io);
    expect(code).toBe(0);
    const rows = JSON.parse(io.stdout) as JsonRow[];
    expect(rows.map((r) => r.name)).toEqual(['map-4k-cold', 'alloc-scaling', 'translate-hit', 'translate-walk', 'dma-api', 'dirty-harvest', 'dirty-harvest-scaling']);
    const targets: Record<string, number> = { 'map-4k-cold': 20, 'alloc-scaling': 2, 'translate-hit': 2.5, 'translate-walk': 3, 'dirty-harvest': 3, 'dirty-harvest-scaling': 1.3 };
    for (const r of rows) {
      expect(r.vendor).toBe('arm-smmuv3');
      for (const k of ['value', 'baseline', 'ratio', 'median', 'min', 'max'] as const) expect(typeof r[k], `${r.name}.${k}`).toBe('number');
      expect(r.rounds).toBe(3);
      expect(r.replaced).toBeGreaterThanOrEqual(0);
      expect(r.replaced).toBeLessThanOrEqual(r.rounds);
      expect(r.min!).toBeLessThanOrEqual(r.median!);
      expect(r.median!).toBeLessThanOrEqual(r.max!);
      expect(r.ratio).toBe(r.median);
      if (r.name === 'dma-api') {
        expect(r.target).toBeNull();
        expect(r.verdict).toBe('report');
        continue;
      }
      expect(r.target).toEqual({ max: targets[r.name], of: 'ratio' });
      const v = r.max! <= r.target!.max ? 'met' : r.min! > r.target!.max ? 'missed' : 'unstable';
      expect(r.verdict, r.name).toBe(v);
      expect(r.met).toBe(v === 'met');
    }
    expect(rows.find((r) => r.name === 'translate-walk')!.note).toMatch(/replaying the same 4\.0 reads per walk/);
    expect(io.stderr).toBe('');
    const bad = memoryIo();
    expect(await runCli(['bench', '--only', 'map-5k'], bad)).toBe(2);
    expect(bad.stderr).toMatch(/--only: no benchmark 'map-5k'/);
  }, 60_000);

  it('a vendor without dirty tracking gets unsupported dirty rows', async () => {
    const io = memoryIo();
    expect(await runCli(['bench', '--quick', '--json', '--vendor', 'power-tce', '--only', 'dirty-harvest'], io)).toBe(0);
    const rows = JSON.parse(io.stdout) as JsonRow[];
    expect(rows.map((r) => [r.name, r.verdict, r.value, r.target])).toEqual([
      ['dirty-harvest', 'report', null, null],
      ['dirty-harvest-scaling', 'report', null, null],
    ]);
    expect(rows[0].note).toMatch(/^unsupported: GET_INFO says dirtyTracking: false/);
  });
});
