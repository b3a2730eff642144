import { mkdtempSync, writeFileSync } from 'node:fs';
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

const flow = join(mkdtempSync(join(tmpdir(), 'ioasid-walk-')), 'flow.yaml');
writeFileSync(
  flow,
  `title: a mapped page
steps:
  - bind: { device: dev0 }
  - alloc: {}
    as: gpa
  - attach: { device: dev0, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0x200000, size: 4K, write: false }
  - unmap: { ioasid: $gpa, iova: 0x200000, size: 4K }
`,
);

describe('ioasid walk (core mock IOMMU, whose unit traces)', () => {
  it('prints each read the hardware made, numbered, and where the byte went', async () => {
    const r = await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x200123', '--at', '4');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^read of 0x200123 in IOASID 1, after step 4 of flow on mock\n/);
    expect(r.out).toMatch(/ {2}1\. device-table slot at 0x[0-9a-f]+\n {5}= 0x[0-9a-f]{16}\n {5}V=1 ROOT=0x[0-9a-f]+\n/);
    expect(r.out).toMatch(/ {2}4\. level 0 entry \(level 0, index 0\) at 0x[0-9a-f]+/);
    expect(r.out).toMatch(/→ host physical 0x[0-9a-f]+123 R- in a 4 KiB page\n$/);
  });

  it('a write to the read-only page, and the unmapped page at the end, show the fault', async () => {
    const w = await cli('walk', flow, '--vendor', 'mock', '--ioasid', '1', '--iova', '0x200000', '--at', '4', '--write');
    expect(w.out).toMatch(/^write of 0x200000/);
    expect(w.out).toMatch(/fault PERMISSION \(4\)/);
    const gone = await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x200000');
    expect(gone.out).toMatch(/fault NOT_PRESENT \(3\)/);
  });

  it('--json has the trace with bigints as hex', async () => {
    const j = JSON.parse((await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x200000', '--at', '4', '--json')).out);
    expect(j).toMatchObject({ vendor: 'mock', ioasid: 1, iova: '0x200000', step: 4 });
    expect(j.trace.events[0]).toMatchObject({ structure: 'device-table slot' });
    expect(j.trace.output).toMatch(/^0x[0-9a-f]+000$/);
  });

  it('usage errors name the argument and exit 2', async () => {
    expect((await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', 'x1')).err).toMatch(/--iova: expected a number/);
    expect((await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x1', '--pasid', '0x100000')).err).toMatch(/--pasid: 0x100000 is above 0xfffff/);
    expect((await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa')).code).toBe(2);
    const notAttached = await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x0', '--device', 'dev1');
    expect(notAttached.code).toBe(1);
    expect(notAttached.err).toMatch(/options\.device: dev1 is not attached to IOASID 1/);
  });

  it('a real vendor without the trace hook falls back to LOOKUP decoded from memory and says so', async () => {
    const r = await cli('walk', '5.1-simple-dma', '--vendor', 'power-tce', '--ioasid', 'gpa', '--iova', '0x1000');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/→ 0x[0-9a-f]+|host physical/);
  });
});
