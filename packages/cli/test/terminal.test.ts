import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import { textWidth } from '../src/output/table.js';
import { renderBench } from '../src/commands/bench.js';
import { painter } from '../src/output/colour.js';
import type { BenchRow } from '../src/bench/rows.js';
import './helpers.js';

async function cli(args: string[], columns?: number) {
  const io = memoryIo(columns);
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('terminal manners (issue 19)', () => {
  it('info fits the terminal: side by side when it fits, one vendor column at a time when it does not', async () => {
    const wide = await cli(['info', '--vendor', 'intel-vtd,arm-smmuv3,power-tce']);
    expect(textWidth(wide.out)).toBeGreaterThan(100);
    const narrow = await cli(['info', '--vendor', 'intel-vtd,arm-smmuv3,power-tce'], 100);
    expect(textWidth(narrow.out)).toBeLessThanOrEqual(100);
    for (const v of ['intel-vtd', 'arm-smmuv3', 'power-tce']) expect(narrow.out).toContain(v);
    const roomy = await cli(['info', '--vendor', 'intel-vtd,arm-smmuv3,power-tce'], 400);
    expect(roomy.out).toBe(wide.out);
  });

  it('bench rows fold to one line each when the table is wider than the terminal', () => {
    const rows: BenchRow[] = [
      { vendor: 'intel-vtd', name: 'map-4k', value: 9.2, unit: 'ns/page', baseline: 1.9, ratio: 4.8, median: 4.8, min: 4.5, max: 5.1, rounds: 9, replaced: 0, verdict: 'met', target: '≤ 8×', targetMax: 8, targetOf: 'ratio', ok: true, note: '262144 pages, and a long note that makes the table wide' },
    ];
    const p = painter(false);
    expect(textWidth(renderBench(rows, p))).toBeGreaterThan(80);
    const folded = renderBench(rows, p, 80);
    expect(textWidth(folded)).toBeLessThanOrEqual(80);
    expect(folded).toBe('intel-vtd map-4k: 9.20 ns/page = 4.80× of 1.90 (4.50–5.10×), target ≤ 8×: met\n    262144 pages, and a long note that makes the table wide\n');
  });

  it('--json reports a refusal as JSON on stdout as well (usage errors and failures)', async () => {
    const usage = await cli(['info', '--vendor', 'sparc', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.out)).toEqual({ error: { kind: 'usage', message: expect.stringMatching(/--vendor: unknown vendor 'sparc'/), exitCode: 2 } });
    const failure = await cli(['dump', '5.1-simple-dma', '--vendor', 'intel-vtd', '--ioasid', '9', '--json']);
    expect(failure.code).toBe(1);
    expect(JSON.parse(failure.out)).toMatchObject({ error: { kind: 'failure', errno: 'ENOENT', exitCode: 1 } });
    const badOption = await cli(['run', '--nonsense', '--json']);
    expect(badOption.code).toBe(2);
    expect(JSON.parse(badOption.out).error).toMatchObject({ kind: 'usage', message: "unknown option '--nonsense'" });
  });

  it('report and snapshot have --json too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-json-'));
    const r = await cli(['report', '5.7-bind-pasid-table', '--vendor', 'arm-smmuv3', '-o', join(dir, 'r.html'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ file: join(dir, 'r.html'), bytes: expect.any(Number), vendors: [{ vendor: 'arm-smmuv3', status: 'pass', tracedDmas: 3 }] });
    const s = await cli(['snapshot', '5.1-simple-dma', '--vendor', 'intel-vtd', '--image', join(dir, 'm.bin'), '--regs', join(dir, 'r.json'), '--json']);
    expect(JSON.parse(s.out)).toMatchObject({ vendor: 'intel-vtd', devices: [{ name: 'dev1', rid: 8 }], chunks: expect.any(Number) });
  });
});
