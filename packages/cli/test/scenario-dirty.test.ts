import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import './helpers.js';

describe('the dirty-tracking scenario (issue 20)', () => {
  it('passes on VT-d and SMMUv3, is unsupported on POWER (no dirty logging), and run shows the bitmap', async () => {
    const io = memoryIo();
    const code = await runCli(['run', 'dirty-tracking', '--vendor', 'intel-vtd,arm-smmuv3,power-tce', '--json'], io);
    expect(code).toBe(0);
    const results = JSON.parse(io.stdout).results as { vendor: string; status: string; steps: { op: string; status: string; detail: string }[] }[];
    expect(results.map((r) => [r.vendor, r.status])).toEqual([['intel-vtd', 'pass'], ['arm-smmuv3', 'pass'], ['power-tce', 'unsupported']]);
    const vtd = results[0].steps.filter((s) => s.op === 'get-dirty-bitmap' && s.status === 'ok').map((s) => s.detail.replace(/^.*: dirty /, ''));
    expect(vtd).toEqual(['[5, 17] (kept)', '[0, 1]', '[]', '[5]', '[0, 1]', '[]']);
    expect(results[2].steps.find((s) => s.op === 'set-dirty-tracking')!.detail).toBe('GET_INFO of IOASID 1 says dirtyTracking: false');
  });
});
