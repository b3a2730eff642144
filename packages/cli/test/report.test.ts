import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import './helpers.js';

async function cli(...args: string[]) {
  const io = memoryIo();
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'ioasid-report-'));
const flow = join(dir, 'flow.yaml');
writeFileSync(
  flow,
  `title: a mapped page, read, then unmapped
steps:
  - bind: { device: dev0 }
  - alloc: {}
    as: gpa
  - attach: { device: dev0, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0x200000, size: 4K }
  - dma-read: { device: dev0, iova: 0x200010, length: 4 }
    title: the device reads the page
  - unmap: { ioasid: $gpa, iova: 0x200000, size: 4K }
  - dma-read: { device: dev0, iova: 0x200010, length: 4, fault: true }
`,
);

describe('ioasid report: one self-contained HTML page', () => {
  it('writes the timeline, each DMA walk as SVG beside its highlighted table, and no external reference', async () => {
    const out = join(dir, 'r.html');
    const r = await cli('report', flow, '--vendor', 'mock', '-o', out);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^wrote .*r\.html: \d+ KiB, 1 vendor, 2 traced DMAs, in [\d.]+ s\n$/);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src="http|href="http|@import|url\(http/);
    // The timeline: one row per step, the vendor's status in each.
    expect(html.match(/<tr data-step="/g)).toHaveLength(7);
    expect(html).toMatch(/data-vendor="mock" data-status="ok"><span class="status status-ok">ok<\/span>/);
    // Step 5: the walk, read by read, ends at host memory; the table's walked entries highlighted.
    const step5 = html.slice(html.indexOf('id="step-5"'), html.indexOf('id="step-7"'));
    expect(step5).toMatch(/data-structure="device-table slot"/);
    expect(step5).toMatch(/data-structure="level 0 entry"[^>]*data-level="0"/);
    expect(step5).toMatch(/class="row walked" data-index="0"/);
    expect(step5).toMatch(/class="table on-path" data-level="2"/);
    expect(step5).toMatch(/reaches host physical <code>0x[0-9a-f]+010<\/code>/);
    // Step 7: blocked, and the glossary explains the fault met.
    const step7 = html.slice(html.indexOf('id="step-7"'));
    expect(step7).toMatch(/blocked: <b>NOT_PRESENT<\/b>/);
    expect(html).toMatch(/<section id="faults">.*mock: NOT_PRESENT/s);
  });

  it('-o - prints the page; a bad output path is a usage error naming it', async () => {
    const r = await cli('report', flow, '--vendor', 'mock', '-o', '-');
    expect(r.out).toMatch(/^<!doctype html>/);
    const bad = await cli('report', flow, '--vendor', 'mock', '-o', join(dir, 'no', 'such', 'dir.html'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--output .*dir\.html: ENOENT/);
  });
});
