import { describe, expect, it } from 'vitest';
import { runScenario } from '../src/scenario/runner.js';
import { renderReport } from '../src/scenario/report.js';
import { painter } from '../src/output/colour.js';
import { mockVendor, scenario } from './helpers.js';

const machine = `machine:\n  devices: [{ name: dev1 }, { name: dev2 }]\n  guestMemory: 64M\n`;

function run(steps: string) {
  return runScenario(scenario(`title: t\n${machine}steps:\n${steps}`), mockVendor());
}

describe('scenario runner (on the core mock IOMMU)', () => {
  it('runs a map + DMA flow and keeps results under names', () => {
    const { report, state } = run(`
  - bind: { device: dev1 }
  - alloc: {}
    as: gpa
  - attach: { device: dev1, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0, vaddr: $guest.vaddr, size: $guest.size }
  - guest-alloc: { size: 4K }
    as: buf
  - dma-write: { device: dev1, iova: $buf.gpa + 8, bytes: "01 02 03" }
  - guest-read: { gpa: $buf.gpa + 8, expect: "01 02 03" }
  - unmap: { ioasid: $gpa, all: true, bytes: 64M }
  - dma-read: { device: dev1, iova: $buf.gpa, length: 1, fault: NOT_PRESENT }
`);
    expect(report.steps.map((s) => s.status)).toEqual(Array(9).fill('ok'));
    expect(report.status).toBe('pass');
    expect(report.steps[8].detail).toMatch(/blocked as expected: NOT_PRESENT/);
    expect(state!.vars.resolve('$gpa')).toBe(1);
    expect(report.steps[1].line).toBe(8);
  });

  it('an expected errno passes; a different errno or success fails and stops the run', () => {
    const { report } = run(`
  - alloc: {}
    as: a
  - free: { ioasid: 9 }
    expect: ENOENT
  - map: { ioasid: $a, iova: 0x800, size: 4K }
    expect: EEXIST
  - alloc: {}
`);
    expect(report.steps.map((s) => s.status)).toEqual(['ok', 'expected-error', 'fail', 'not-run']);
    expect(report.steps[2].detail).toMatch(/^expected EEXIST, got EINVAL: /);
    expect(report.status).toBe('fail');
  });

  it('a check that does not hold fails with what was read', () => {
    const { report } = run(`
  - guest-write: { gpa: 0x1000, bytes: "aa" }
  - guest-read: { gpa: 0x1000, expect: "bb" }
`);
    expect(report.steps[1]).toMatchObject({ status: 'fail', detail: 'guest read at GPA 0x1000: read aa, expected bb' });
  });

  it('a DMA that faults without an expectation fails, and one that goes through when a fault is expected', () => {
    const a = run(`
  - bind: { device: dev1 }
  - alloc: {}
    as: a
  - attach: { device: dev1, ioasid: $a }
  - dma-read: { device: dev1, iova: 0x5000, length: 4 }
`);
    expect(a.report.steps[3]).toMatchObject({ status: 'fail' });
    expect(a.report.steps[3].detail).toMatch(/DMA blocked: NOT_PRESENT/);
    const b = run(`
  - bind: { device: dev1 }
  - alloc: {}
    as: a
  - attach: { device: dev1, ioasid: $a }
  - map: { ioasid: $a, iova: 0x5000, size: 4K }
  - dma-read: { device: dev1, iova: 0x5000, length: 4, fault: { mock: PERMISSION } }
`);
    expect(b.report.steps[4].detail).toMatch(/DMA went through, expected a fault \(PERMISSION\)/);
  });

  it('a capability GET_INFO lacks makes the rest unsupported, unless the errno is expected', () => {
    const { report } = run(`
  - bind: { device: dev1 }
  - alloc: {}
    as: gpa
  - attach: { device: dev1, ioasid: $gpa }
  - nest: { parent: $gpa, protocol: user-pgtable }
    as: child
  - attach: { device: dev1, ioasid: $child }
`);
    expect(report.steps.map((s) => s.status)).toEqual(['ok', 'ok', 'ok', 'unsupported', 'skipped']);
    expect(report.steps[3].detail).toBe("GET_INFO of IOASID 1 lists protocols map: no 'user-pgtable'");
    expect(report.status).toBe('unsupported');

    const expected = run(`
  - alloc: {}
    as: gpa
  - nest: { parent: $gpa, protocol: user-pgtable }
    expect: EOPNOTSUPP
`);
    expect(expected.report.steps[1].status).toBe('expected-error');
  });

  it('GET_INFO checks: matches fails, requires makes the scenario unsupported; a missing format entry is unsupported', () => {
    const steps = (field: string) => `
  - bind: { device: dev1 }
  - alloc: {}
    as: a
  - attach: { device: dev1, ioasid: $a }
  - info: { ioasid: $a, ${field}: { nesting: hardware } }
    as: info
`;
    expect(run(steps('matches')).report.steps[3]).toMatchObject({ status: 'fail', detail: 'GET_INFO nesting is "software", expected "hardware"' });
    expect(run(steps('requires')).report.steps[3].status).toBe('unsupported');
    const r = run(`${steps('matches').replace('hardware', 'software')}  - guest-pgtable: { format: $info.formats.0 }\n`);
    expect(r.report.steps[4]).toMatchObject({ status: 'unsupported' });
  });

  it('steps limited to other vendors are skipped; scenarios for other vendors are unsupported', () => {
    const { report } = run(`
  - alloc: {}
    vendors: [power-tce]
  - alloc: {}
`);
    expect(report.steps.map((s) => s.status)).toEqual(['skipped', 'ok']);
    const other = runScenario(scenario(`title: t\nvendors: [arm-smmuv3]\nsteps:\n  - alloc: {}\n`), mockVendor());
    expect(other.report).toMatchObject({ status: 'unsupported', error: 'the scenario is written for arm-smmuv3' });
  });

  it('a step the vendor refuses with its refusable errno makes the scenario unsupported; another errno still fails', () => {
    const refused = run(`
  - alloc: {}
  - free: { ioasid: 9 }
    refusable: ENOENT
  - alloc: {}
`);
    expect(refused.report.steps.map((s) => s.status)).toEqual(['ok', 'unsupported', 'skipped']);
    expect(refused.report.status).toBe('unsupported');
    expect(refused.report.steps[1]).toMatchObject({ errno: 'ENOENT', detail: expect.stringMatching(/^the vendor refuses it, as the uAPI allows: ENOENT: /) });
    const other = run(`
  - free: { ioasid: 9 }
    refusable: EINVAL
`);
    expect(other.report.steps[0]).toMatchObject({ status: 'fail', errno: 'ENOENT' });
    expect(other.report.status).toBe('fail');
    const fine = run(`
  - alloc: {}
    refusable: EINVAL
`);
    expect(fine.report).toMatchObject({ status: 'pass' });
  });

  it('a machine the vendor refuses fails the scenario', () => {
    const r = runScenario(scenario(`title: t\nmachine:\n  devices: [{ name: a }, { name: a }]\nsteps:\n  - alloc: {}\n`), mockVendor());
    expect(r.report.status).toBe('fail');
    expect(r.report.error).toMatch(/machine: EEXIST/);
  });

  it('renders one line per step', () => {
    const { report } = run(`
  - alloc: {}
  - free: { ioasid: 5 }
    expect: ENOENT
    title: unknown
`);
    const text = renderReport(report, painter(false));
    expect(text).toContain('test on mock: t\n');
    expect(text).toMatch(/ {3}1 {2}alloc {2}ok +IOASID 1 \(map\)\n/);
    expect(text).toMatch(/ {3}2 {2}free {3}ENOENT \(expected\) {2}unknown: ENOENT: /);
    expect(text).toContain('=> pass (1 ok, 1 expected errors)');
  });

  it('a step that fails at run time names its file and line, in the text and the JSON report', () => {
    const { report } = run(`
  - alloc: {}
  - free: { ioasid: 5 }
  - alloc: {}
`);
    // test.yaml: title, 3 machine lines, steps:, then the blank line the template starts with.
    expect(report.steps[1]).toMatchObject({ status: 'fail', line: 8, source: 'test.yaml:8' });
    expect(report.steps[0].source).toBeUndefined();
    expect(report.steps[2].source).toBeUndefined();
    const text = renderReport(report, painter(false));
    expect(text).toMatch(/ {3}2 {2}free {3}FAIL \(test\.yaml:8\) {2}ENOENT: /);
    // The other rows keep their column: the location does not widen it.
    expect(text).toMatch(/ {3}1 {2}alloc {2}ok {11}IOASID 1/);
    expect(JSON.parse(JSON.stringify(report)).steps[1].source).toBe('test.yaml:8');
  });
});

describe('scenario machine: hostMemory (issue 15, finite host memory)', () => {
  it('sizes host memory from machine.hostMemory and a pin past it fails with ENOMEM', () => {
    const { report, state } = runScenario(
      scenario(`title: t
machine:
  devices: [{ name: dev1 }]
  hostMemory: 64M
  guestMemory: 8M
  guestHugePages: false
steps:
  - bind: { device: dev1 }
  - alloc: {}
    as: gpa
  - attach: { device: dev1, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0, vaddr: $guest.vaddr, size: $guest.size }
`),
      mockVendor(),
    );
    expect(report.status).toBe('pass');
    expect(state!.machine.hostMemory.size).toBe(64n << 20n);
    const big = runScenario(
      scenario(`title: t
machine:
  devices: [{ name: dev1 }]
  hostMemory: 64M
  guestMemory: 64M
  guestHugePages: false
steps:
  - bind: { device: dev1 }
  - alloc: {}
    as: gpa
  - attach: { device: dev1, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0, vaddr: $guest.vaddr, size: $guest.size }
    expect: ENOMEM
`),
      mockVendor(),
    );
    expect(big.report.steps.map((s) => s.status)).toEqual(['ok', 'ok', 'ok', 'expected-error']);
  });
});
