import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import { registerVendor } from '@ioasid/core';
import { MockDriver } from '../../core/test/mock-driver.js';
import './helpers.js';

// The mock IOMMU without its trace hook: LOOKUP is all a walk can show.
registerVendor({
  vendor: 'mock-untraced',
  description: 'test-only mock IOMMU whose unit does not trace',
  // (The mock is typed against core's sources, the CLI against its package: one runtime module.)
  create: (ctx) => {
    const d = new MockDriver(ctx as never);
    Object.defineProperty(d, 'vendor', { value: 'mock-untraced' });
    return Object.defineProperty(d, 'unit', { value: { registers: d.unit.registers } }) as never;
  },
});

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
    expect(r.out).toMatch(/ {2}1\. device-table slot at 0x[0-9a-f]+\n {5}= 0x[0-9a-f]{16}\n {5}V=1 DT=0 ROOT=0x[0-9a-f]+\n/);
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

  it('a unit without the trace hook falls back to LOOKUP decoded from memory and says so', async () => {
    const r = await cli('walk', flow, '--vendor', 'mock-untraced', '--ioasid', 'gpa', '--iova', '0x200123', '--at', '4');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\(no hardware trace: mock-untraced's unit does not trace, or no device reaches IOASID 1; LOOKUP decoded from memory:\)/);
    expect(r.out).toMatch(/ {2}3\. level 0 entry \[0\] at 0x[0-9a-f]+ = 0x[0-9a-f]{16} {2}leaf\n {2}→ 0x[0-9a-f]+123\n$/);
  });

  it('a real vendor traces: POWER names the RTT entry, the on-chip TVE and the TCE', async () => {
    const r = await cli('walk', '5.1-simple-dma', '--vendor', 'power-tce', '--ioasid', 'gpa', '--iova', '0x1000', '--at', '5');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/1\. RTT entry \(index 8\) at 0x[0-9a-f]+\n/);
    expect(r.out).toMatch(/2\. TVE \(index \d+\) in on-chip TVT/);
    expect(r.out).toMatch(/3\. TCE \(level 1, index 1\) at 0x[0-9a-f]+\n/);
    expect(r.out).toMatch(/→ host physical 0x[0-9a-f]+ RW in a 4 KiB page\n$/);
  });

  it('snapshot writes a sparse image and the registers; walk --image gives the walk the live machine gives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-img-'));
    const image = join(dir, 'mem.bin');
    const regs = join(dir, 'regs.json');
    const s = await cli('snapshot', flow, '--vendor', 'mock', '--at', '4', '--image', image, '--regs', regs);
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/^wrote .*mem\.bin \([\d.]+ MiB, \d+ chunks of 2 MiB written, the rest holes\) and .*regs\.json\nfrom mock after step 4 of flow; devices: dev0 RID 0x8, dev1 RID 0x10\n$/);
    expect(JSON.parse(readFileSync(regs, 'utf8'))).toMatchObject({ vendor: 'mock', step: 4, registers: { TABLE: expect.stringMatching(/^0x[0-9a-f]+000$/) } });
    const live = JSON.parse((await cli('walk', flow, '--vendor', 'mock', '--ioasid', 'gpa', '--iova', '0x200123', '--at', '4', '--json')).out);
    const fromImage = JSON.parse((await cli('walk', '--image', image, '--regs', regs, '--rid', '0x8', '--iova', '0x200123', '--json')).out);
    expect(fromImage).toMatchObject({ vendor: 'mock', rid: 8, iova: '0x200123' });
    expect(fromImage.trace).toEqual(live.trace);
    const text = await cli('walk', '--image', image, '--regs', regs, '--rid', '0x8', '--iova', '0x200123');
    expect(text.out).toMatch(/^read of 0x200123 from RID 0x8 over .*mem\.bin on mock\n {2}1\. device-table slot/);
    // Another requester has no slot in the image: the same fault the machine would give.
    const other = JSON.parse((await cli('walk', '--image', image, '--regs', regs, '--rid', '0x10', '--iova', '0x0', '--json')).out);
    expect(other.trace.fault.name).toBe('NO_CONTEXT');
  });

  it('walk --image refuses what it cannot use, naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-img-'));
    const regs = join(dir, 'regs.json');
    writeFileSync(regs, JSON.stringify({ TABLE: 'zz' }));
    const img = join(dir, 'mem.bin');
    writeFileSync(img, new Uint8Array(4096));
    for (const [args, msg] of [
      [['--image', img, '--rid', '8', '--iova', '0'], /--regs is required with --image/],
      [['--image', img, '--regs', regs, '--rid', '8', '--iova', '0', '--vendor', 'mock'], /register TABLE: expected a non-negative number/],
      [['--image', join(dir, 'none.bin'), '--regs', regs, '--rid', '8', '--iova', '0', '--vendor', 'mock'], /register TABLE|--image .*none\.bin: ENOENT/],
      [['--image', img, '--regs', regs, '--iova', '0', '--ioasid', '1'], /--ioasid applies to a scenario walk, not to --image/],
      [['--rid', '8', '--iova', '0', flow, '--ioasid', '1'], /--rid applies only with --image/],
    ] as const) {
      const r = await cli('walk', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
    writeFileSync(regs, JSON.stringify({ vendor: 'mock', registers: { TABLE: '0x1001' } }));
    const bad = await cli('walk', '--image', img, '--regs', regs, '--rid', '8', '--iova', '0');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/mock: register TABLE \(a page-aligned address\) is required/);
  });

  it('on every built-in vendor, snapshot then walk --image gives the live machine\'s trace (issue 18 item 6)', { timeout: 120_000 }, async () => {
    for (const vendor of ['intel-vtd', 'arm-smmuv3', 'power-tce']) {
      const dir = mkdtempSync(join(tmpdir(), `ioasid-img-${vendor}-`));
      const image = join(dir, 'mem.bin');
      const regs = join(dir, 'regs.json');
      expect((await cli('snapshot', '5.1-simple-dma', '--vendor', vendor, '--at', '5', '--image', image, '--regs', regs)).code).toBe(0);
      for (const iova of ['0x1000', '0x3fff123', '0x80000000']) {
        const live = JSON.parse((await cli('walk', '5.1-simple-dma', '--vendor', vendor, '--ioasid', 'gpa', '--iova', iova, '--at', '5', '--json')).out);
        const img = await cli('walk', '--image', image, '--regs', regs, '--rid', '0x8', '--iova', iova, '--json');
        expect(img.code, `${vendor} ${iova}: ${img.err}`).toBe(0);
        expect(JSON.parse(img.out).trace, `${vendor} ${iova}`).toEqual(live.trace);
      }
    }
  });
});

