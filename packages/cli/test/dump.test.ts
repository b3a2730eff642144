import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import './helpers.js';

async function cli(...args: string[]) {
  const io = memoryIo();
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('ioasid dump: a table a person can read', () => {
  it('collapses runs of alike leaves and unused slots (5.1 on POWER was 16,390 lines)', async () => {
    const r = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'power-tce');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').length).toBeLessThan(200);
    // TCE levels count from the TVE down (DESIGN §9): a one-level window's table is level 1.
    expect(r.out).toMatch(/level 1 table at 0x[0-9a-f]+ \(16384 of 524288 entries in use\)/);
    expect(r.out).toMatch(/\[1–511\] 511 more leaves like \[0\], output \+0x1000 each: iova 0x1000–0x1fffff → 0x[0-9a-f]+ … 0x[0-9a-f]+/);
    expect(r.out).toMatch(/\[16384–524287\] empty/);
  });

  it('numbers levels as each specification does: VT-d PML4 is level 4, LPAE lookup starts at its start level', async () => {
    const vtd = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd');
    expect(vtd.out).toMatch(/^ {2}level 4 table at /m);
    expect(vtd.out).not.toMatch(/level 0 table/);
    const arm = JSON.parse((await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'arm-smmuv3', '--json')).out);
    // 4 KiB granule, 48-bit IPA: lookup levels 0 (root) to 3 (pages), 2 MiB blocks at level 2.
    expect(arm.dump.root.level).toBe(0);
    expect(arm.dump.root.entries[0].child.level).toBe(1);
    expect(arm.dump.root.entries[0].child.entries[0].child.level).toBe(2);
    expect(arm.dump.root).not.toHaveProperty('specLevel');
  });

  it('--iova keeps the path to one address, --range the entries meeting a range, --depth cuts below the root', async () => {
    const one = JSON.parse((await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', '--json', '--iova', '0x201000')).out);
    let t = one.dump.root;
    const levels: number[] = [];
    while (t) {
      levels.push(t.level);
      expect(t.entries).toHaveLength(1);
      t = t.entries[0].child;
    }
    expect(levels).toEqual([4, 3, 2]); // a 2 MiB leaf in the PDE
    const range = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'power-tce', '--range', '0x0+0x4000');
    expect(range.out).toMatch(/\(16384 of 524288 entries in use; 4 in the range shown\)/);
    // The slots the range left out are not reported as empty.
    expect(range.out).not.toMatch(/empty/);
    const shallow = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', '--depth', '0');
    expect(shallow.out).toMatch(/level 3 table at 0x[0-9a-f]+ \(1 of 512 entries in use\)\n +… below --depth/);
    expect(shallow.out).not.toMatch(/level 2 table/);
  });

  it('--at dumps the state right after a numbered or named step, even one a later step undoes', async () => {
    // errno-rules closes its fd at the end; 5.4 unmaps the guest table before it finishes.
    const early = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', '--at', '3');
    expect(early.code).toBe(0);
    expect(early.out).toMatch(/^IOASID 1 after step 3 of 5.1-simple-dma on intel-vtd/);
    expect(early.out).toMatch(/\(no page table\)|\(0 of 512 entries in use\)/);
    const named = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', '--at', 'gpa');
    expect(named.code).toBe(0);
    const bad = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', '--at', '99');
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.err).toMatch(/--at 99: scenario '5.1-simple-dma' has steps 1 to \d+/);
    const unknown = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--at', 'nowhere');
    expect(unknown.err).toMatch(/--at nowhere: no step .* is numbered, named \(as:\) or titled so/);
  });

  it('without --vendor, runs on the first vendor that runs the scenario through', async () => {
    const r = await cli('dump', '5.7-bind-pasid-table', '--ioasid', '1', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).vendor).toBe('arm-smmuv3');
  });

  it('refuses malformed filters with exit 2 and the argument named', async () => {
    for (const [args, msg] of [
      [['--iova', 'zz'], /--iova: expected an address/],
      [['--range', '0x10-0x1'], /--range: the end is below the start/],
      [['--range', '0x10+0'], /--range: the size is 0/],
      [['--iova', '0x1', '--range', '0x0+0x1'], /give --iova or --range, not both/],
      [['--depth', '-1'], /--depth: expected a number/],
      [['--json', '--format', 'dot'], /--json and --format dot/],
    ] as const) {
      const r = await cli('dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });

  it('a guest-visible space maps no kernel frame: the stage 2 of nested SMMUv3 and RISC-V (guest-owned CD table / PDT) holds only VMM memory', async () => {
    for (const vendor of ['arm-smmuv3', 'riscv-iommu']) {
      const r = await cli('dump', '5.7-bind-pasid-table', '--ioasid', 'gpa', '--vendor', vendor);
      expect(r.code, vendor).toBe(0);
      expect(r.out, vendor).not.toMatch(/a kernel frame/);
      const j = JSON.parse((await cli('dump', '5.7-bind-pasid-table', '--ioasid', 'gpa', '--vendor', vendor, '--json')).out);
      const leaves = (t: { entries: { kernel?: boolean; child?: unknown }[] }): { kernel?: boolean }[] => t.entries.flatMap((e) => (e.child ? leaves(e.child as never) : [e]));
      const all = leaves(j.dump.root);
      expect(all.length, vendor).toBeGreaterThan(0);
      expect(all.filter((e) => e.kernel), vendor).toEqual([]);
    }
  });
});

