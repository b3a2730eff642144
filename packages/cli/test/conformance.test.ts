import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { conformanceCommand, seedArg } from '../src/commands/conformance.js';
import { createContext } from '../src/context.js';
import { memoryIo } from '../src/io.js';
import type { CaseResult, ConformanceKit } from '../src/conformance/kit.js';
import { failureText } from '../src/conformance/matrix.js';

/** A stand-in for @ioasid/conformance, only to test how the command presents results. */
function fakeKit(statuses: Record<string, CaseResult['status']>): ConformanceKit & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    listCases: () => [{ id: 'map-basic', title: 'map', group: 'dma' }],
    async runConformanceAsync(opts) {
      const seed = opts.seed !== undefined ? { seed: opts.seed } : {};
      calls.push(opts.filter ? { vendors: opts.vendors, runs: opts.runs, picked: Object.keys(statuses).filter(opts.filter), ...seed } : { vendors: opts.vendors, runs: opts.runs, ...seed });
      const results: CaseResult[] = [];
      for (const v of opts.vendors) {
        for (const [id, status] of Object.entries(statuses)) {
          if (opts.filter && !opts.filter(id)) continue;
          const r: CaseResult = { vendor: v, id, title: id, group: id.startsWith('map') ? 'dma mapping' : 'nesting', status, ms: 1 };
          if (status === 'unsupported') r.reason = 'no hardware nesting';
          if (status === 'fail' && v === 'power-tce') r.error = new Error('EINVAL: boom');
          else if (status === 'fail') r.status = 'pass';
          results.push(r);
          opts.onCase?.(r, results.length, opts.vendors.length * Object.keys(statuses).length);
        }
      }
      return { vendors: opts.vendors, runs: opts.runs ?? 1, results, counts: {} };
    },
  };
}

async function runWith(kit: ConformanceKit, args: string[]) {
  const io = memoryIo();
  const ctx = createContext(io, () => []);
  const program = new Command('ioasid').exitOverride();
  program.addCommand(conformanceCommand(ctx, async () => kit).exitOverride());
  await program.parseAsync(['conformance', ...args], { from: 'user' });
  return { io, code: ctx.exitCode };
}

describe('ioasid conformance (presentation, with a stand-in kit)', () => {
  it('prints the case × vendor matrix, failures and unsupported reasons, and exits 1 on a failure', async () => {
    const kit = fakeKit({ 'map-basic': 'pass', 'nest-hw': 'unsupported', 'map-cut': 'fail' });
    const { io, code } = await runWith(kit, ['--vendor', 'intel-vtd,power-tce']);
    expect(code).toBe(1);
    expect(kit.calls).toEqual([{ vendors: ['intel-vtd', 'power-tce'], runs: undefined }]);
    const out = io.stdout;
    // Progress goes to stderr only, so a piped matrix is clean.
    expect(io.stderr).toMatch(/\[1\/6\] intel-vtd map-basic: pass/);
    expect(out).not.toMatch(/\[1\/6\]/);
    expect(out).toMatch(/│ map-basic +│ pass +│ pass +│/);
    expect(out).toMatch(/│ map-cut +│ pass +│ FAIL +│/);
    expect(out).toMatch(/│ nest-hw +│ unsupported +│ unsupported +│/);
    expect(out).toContain('Failures:\n  power-tce map-cut: EINVAL: boom');
    expect(out).toContain('Unsupported:\n  intel-vtd nest-hw: no hardware nesting');
    expect(out).toContain('3 passed, 1 failed, 2 unsupported (2 vendors, 1 run per property)');
  });

  it('--seed reaches every property of the kit and is printed with the summary; a bad seed is a usage error', async () => {
    const kit = fakeKit({ 'map-basic': 'pass' });
    const { io } = await runWith(kit, ['--vendor', 'intel-vtd', '--seed', '-2041703766']);
    expect(kit.calls).toEqual([{ vendors: ['intel-vtd'], runs: undefined, seed: -2041703766 }]);
    expect(io.stdout).toMatch(/1 run per property, seed -2041703766\)/);
    for (const bad of ['1.5', 'x', '4294967296', '-2147483649', '']) expect(() => seedArg(bad), bad).toThrow(/expected an integer seed/);
    expect(seedArg('4294967295')).toBe(4294967295);
  });

  it('exits 0 when nothing fails, and --json prints parseable results', async () => {
    const { io, code } = await runWith(fakeKit({ 'map-basic': 'pass' }), ['--vendor', 'intel-vtd', '--json', '--runs', '3']);
    expect(code).toBe(0);
    const j = JSON.parse(io.stdout);
    expect(j).toMatchObject({ vendors: ['intel-vtd'], runs: 3, counts: { pass: 1, fail: 0, unsupported: 0 } });
    expect(j.results[0]).toMatchObject({ vendor: 'intel-vtd', id: 'map-basic', status: 'pass' });
  });

  it('a failure shows the message without the stack', () => {
    const r: CaseResult = {
      vendor: 'v', id: 'p', title: 'p', group: 'property', status: 'fail', ms: 1,
      error: 'Error: Property failed after 2 tests\n{ seed: 1 }\nCounterexample: [1]\n\nHint: Enable verbose mode\n    at buildError (x.js:1:1)\n    at y (y.js:2:2)',
    };
    expect(failureText(r)).toBe('Error: Property failed after 2 tests\n      { seed: 1 }\n      Counterexample: [1]');
  });

  it('--case picks cases by id or group, shows what each tried, and an unknown name is a usage error', async () => {
    const kit = fakeKit({ 'map-basic': 'pass', 'nest-hw': 'unsupported', 'map-cut': 'pass' });
    kit.listCases = () => [
      { id: 'map-basic', title: 'map', group: 'dma mapping' },
      { id: 'map-cut', title: 'cut', group: 'dma mapping' },
      { id: 'nest-hw', title: 'nest', group: 'nesting' },
    ];
    const run = kit.runConformanceAsync.bind(kit);
    kit.runConformanceAsync = async (opts) => {
      const r = await run(opts);
      for (const x of r.results) x.detail = `${x.id}: 3 sequences, 40 DMAs checked`;
      return r;
    };
    const { io } = await runWith(kit, ['--vendor', 'intel-vtd', '--case', 'nesting,map-cut']);
    expect(kit.calls).toEqual([{ vendors: ['intel-vtd'], runs: undefined, picked: ['nest-hw', 'map-cut'] }]);
    expect(io.stdout).toContain('Tried:\n  intel-vtd nest-hw: nest-hw: 3 sequences, 40 DMAs checked\n  intel-vtd map-cut: map-cut: 3 sequences, 40 DMAs checked\n');
    expect(io.stdout).not.toMatch(/map-basic/);
    await expect(runWith(kit, ['--case', 'nonesuch'])).rejects.toThrow(/unknown case or group 'nonesuch' \(groups: dma mapping, nesting/);
  });

  it('an unknown vendor is a usage error', async () => {
    await expect(runWith(fakeKit({}), ['--vendor', 'sparc-iommu'])).rejects.toThrow(/unknown vendor 'sparc-iommu'/);
  });
});
