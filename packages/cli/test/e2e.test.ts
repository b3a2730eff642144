import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/** End to end: the real `ioasid` binary (bin/ioasid.js → dist/main.js), built first with tsc -b. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'packages/cli/bin/ioasid.js');

function ioasid(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 280_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  // IOASID_E2E_NO_BUILD=1 tests an existing dist/ (e.g. while a sibling package is mid-edit).
  if (process.env.IOASID_E2E_NO_BUILD) return;
  try {
    execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT, stdio: 'pipe', timeout: 300_000 });
  } catch (e) {
    const out = (e as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`npx tsc -b packages/cli failed:\n${out.slice(0, 2000)}`);
  }
}, 320_000);

describe('ioasid (spawned)', () => {
  it('--help and --version', () => {
    const h = ioasid(['--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^Usage: ioasid \[options\] \[command\]/);
    for (const c of ['info', 'conformance', 'run', 'dump', 'bench']) expect(h.out).toMatch(new RegExp(`\\n  ${c} `));
    expect(h.out).toContain('2 a usage error');
    for (const c of ['info', 'conformance', 'run', 'dump', 'bench']) {
      const sub = ioasid([c, '--help']);
      expect(sub.code).toBe(0);
      expect(sub.out).toMatch(new RegExp(`^Usage: ioasid ${c} `));
    }
    const v = ioasid(['--version']);
    expect(v).toMatchObject({ code: 0, out: '0.1.0\n' });
  });

  it('Ctrl-C ends a long run at once with exit code 130', async () => {
    const child = spawn(process.execPath, [BIN, 'conformance', '--runs', '50'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (err.includes('[')) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
  }, 120_000);

  it('a usage error is one line on stderr and exit code 2', () => {
    const r = ioasid(['run', '--nonsense']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe("ioasid: unknown option '--nonsense'\n");
    const u = ioasid(['frobnicate']);
    expect(u.code).toBe(2);
    expect(u.err).toBe("ioasid: unknown command 'frobnicate'\n");
  });

  it('info --json parses and has every registered vendor with bigints as hex', () => {
    const r = ioasid(['info', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { vendors: { vendor: string; devices: { info: { pageSizes: string[] } }[]; ioasid: { info: { permittedRanges: { start: string }[] } } }[] };
    const names = j.vendors.map((v) => v.vendor);
    expect(names).toEqual(['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu']);
    for (const v of j.vendors) {
      expect(v.ioasid.info.permittedRanges[0].start).toMatch(/^0x[0-9a-f]+$/);
    }
    const vtd = j.vendors.find((v) => v.vendor === 'intel-vtd')!;
    expect(vtd.devices[0].info.pageSizes).toEqual(['0x1000', '0x200000', '0x40000000']);
  });

  it('info prints the side-by-side table without colour when not a terminal', () => {
    const r = ioasid(['info', '--vendor', 'intel-vtd,power-tce']);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/\u001b\[/);
    expect(r.out).toMatch(/│ GET_INFO +│ intel-vtd +│ power-tce +│/);
    expect(r.out).toMatch(/│ permitted IOVA ranges │ 0x0-0xfedfffff +│ 0x0-0x7fffffff +│/);
  });

  it('--plugin loads a third-party vendor module, which every command then covers', () => {
    const r = ioasid(['--plugin', './packages/cli/test/fixtures/renamed-vendor.mjs', 'run', '5.1-simple-dma', '--vendor', 'fixture-tce']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^5\.1-simple-dma on fixture-tce: /);
    expect(r.out).toMatch(/=> pass/);
  });

  it('a plugin that does not load, or registers nothing, is a usage error: a run of the built-ins alone would look like a pass', () => {
    const r = ioasid(['--plugin', './no-such-plugin.js', 'info', '--vendor', 'power-tce', '--json']);
    expect(r.code).toBe(2);
    // With --json the refusal is JSON on stdout as well.
    expect(JSON.parse(r.out).error).toMatchObject({ kind: 'usage', message: expect.stringMatching(/^--plugin \.\/no-such-plugin\.js: cannot load it/) });
    expect(r.err).toMatch(/^ioasid: --plugin \.\/no-such-plugin\.js: cannot load it: Cannot find module/);
    const none = ioasid(['--plugin', './packages/cli/test/fixtures/second-registration.mjs', 'info']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^ioasid: --plugin .*second-registration\.mjs: loaded, but it registered no new vendor\./);
    const twice = ioasid(['--plugin', './a.js', '--plugin', './a.js', 'info']);
    expect(twice).toMatchObject({ code: 2, err: 'ioasid: --plugin ./a.js is named twice\n' });
  });

  it('vendor names: empty, repeated or unknown ones are usage errors with a suggestion, in --vendor and in a scenario', () => {
    expect(ioasid(['conformance', '--vendor', ''])).toMatchObject({ code: 2, out: '' });
    expect(ioasid(['conformance', '--vendor', '']).err).toMatch(/^ioasid: --vendor: an empty vendor name/);
    expect(ioasid(['conformance', '--vendor', 'intel-vtd,intel-vtd']).err).toBe("ioasid: --vendor: vendor 'intel-vtd' is named twice\n");
    expect(ioasid(['info', '--vendor', 'arm-smmu']).err).toMatch(/unknown vendor 'arm-smmu' .*; did you mean 'arm-smmuv3'\?\n$/);
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-e2e-'));
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'title: typo\nvendors: [arm-smmu]\nsteps:\n  - bind: { device: dev0 }\n');
    const r = ioasid(['run', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/typo\.yaml: vendors: unknown vendor 'arm-smmu' .*did you mean 'arm-smmuv3'\?/);
  });

  // The whole kit, adversarial group included, on four vendors: minutes on a loaded 2-core machine.
  it('conformance runs the real kit: the matrix, and an exit code that follows the failures', { timeout: 300_000 }, () => {
    const r = ioasid(['conformance', '--runs', '2']);
    // Progress lines go to stderr only; stdout holds the matrix alone.
    expect(r.err).toMatch(/^\[ *1\/\d+\] intel-vtd 5\.1-simple: (pass|fail|unsupported)\n/);
    expect(r.out).toMatch(/^┌/);
    expect(r.out).toMatch(/│ case +│ intel-vtd +│ arm-smmuv3 +│ power-tce +│ riscv-iommu +│/);
    expect(r.out).toMatch(/│ 5\.1-simple +│ (pass|FAIL) +│/);
    const summary = /(\d+) passed, (\d+) failed, (\d+) unsupported \(4 vendors, 2 runs per property\)\n$/.exec(r.out);
    expect(summary).not.toBeNull();
    expect(r.code).toBe(Number(summary![2]) > 0 ? 1 : 0);
    const j = ioasid(['conformance', '--vendor', 'intel-vtd', '--runs', '1', '--json']);
    const parsed = JSON.parse(j.out) as { vendors: string[]; runs: number; counts: { fail: number }; results: { vendor: string; status: string }[] };
    expect(parsed).toMatchObject({ vendors: ['intel-vtd'], runs: 1 });
    expect(parsed.results.length).toBeGreaterThan(10);
    expect(parsed.results.every((x) => x.vendor === 'intel-vtd' && ['pass', 'fail', 'unsupported'].includes(x.status))).toBe(true);
    expect(j.code).toBe(parsed.counts.fail > 0 ? 1 : 0);
  });

  it('a failing property prints its shrunk counterexample as a scenario file that run replays to the same failure', () => {
    const plugin = ['--plugin', './packages/cli/test/fixtures/flat-lazy-vendor.mjs'];
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-cex-'));
    const r = ioasid([...plugin, 'conformance', '--vendor', 'flat-lazy', '--case', 'prop-model,prop-invalidation', '--seed', '42', '--save-counterexamples', dir]);
    expect(r.code).toBe(1);
    for (const id of ['prop-model', 'prop-invalidation']) {
      const file = join(dir, `${id}-flat-lazy.yaml`);
      expect(r.out).toContain(`flat-lazy ${id}: ${file} (replays to the same failure): ioasid run ${file} --vendor flat-lazy`);
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/^# The shrunk counterexample of .* \(fast-check seed 42, path "[\d:]+": failed in run \d+, shrunk \d+ time\(s\)\)/);
      const replay = ioasid([...plugin, 'run', file, '--vendor', 'flat-lazy', '--json']);
      expect(replay.code).toBe(1);
      const steps = (JSON.parse(replay.out) as { results: { steps: { status: string; op: string; detail: string }[] }[] }).results[0].steps;
      // Every call before the last replays as it went; the last fails as the kit's check did.
      expect(steps.slice(0, -1).every((s) => s.status === 'ok' || s.status === 'expected-error')).toBe(true);
      const last = steps[steps.length - 1];
      expect(last).toMatchObject({ status: 'fail', op: 'dma-read' });
      expect(last.detail).toMatch(id === 'prop-model' ? /^DMA went through, expected a fault$/ : /^DMA read at 0x[\da-f]+: read .*, expected /);
    }
    // Without --save-counterexamples the scenario is printed after the matrix, and --json carries it.
    const printed = ioasid([...plugin, 'conformance', '--vendor', 'flat-lazy', '--case', 'prop-model', '--seed', '42']);
    expect(printed.out).toMatch(/Counterexamples as scenario files:\n  flat-lazy prop-model \(replays to the same failure; save it and run: ioasid run <file> --vendor flat-lazy\):\n    # The shrunk/);
    const json = JSON.parse(ioasid([...plugin, 'conformance', '--vendor', 'flat-lazy', '--case', 'prop-model', '--seed', '42', '--json']).out) as { results: { scenario?: string; scenarioReplays?: boolean }[] };
    expect(json.results[0]).toMatchObject({ scenarioReplays: true, scenario: expect.stringMatching(/\nsteps:\n  - bind: /) });
  });

  it('run --list lists the built-in flows', () => {
    const r = ioasid(['run', '--list']);
    expect(r.code).toBe(0);
    for (const f of ['5.1', '5.2', '5.3', '5.4', '5.5', '5.6', '5.7']) expect(r.out).toMatch(new RegExp(`│ ${f.replace('.', '\\.')} `));
  });

  it('run of a built-in scenario reports every step and passes', () => {
    for (const vendor of ['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu']) {
      const r = ioasid(['run', '5.1-simple-dma', '--vendor', vendor]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^5\\.1-simple-dma on ${vendor}: One device, guest RAM mapped at IOVA = GPA\\n`));
      expect(r.out).toMatch(/ {3}7 {2}dma-write +ok +dev1 write 0x[0-9a-f]+ ← de ad be ef 01 02 03 04\n/);
      expect(r.out).toMatch(/EINVAL \(expected\)/);
      expect(r.out).toMatch(/=> pass \(16 ok, 2 expected errors\)\n$/);
    }
  });

  it('run of hardware nesting with BIND_PGTABLE passes on VT-d and RISC-V, is unsupported on SMMUv3 (its guests own their CD tables: 5.7) and POWER', () => {
    const r = ioasid(['run', '5.4-hardware-nesting', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { results: { vendor: string; status: string; steps: { status: string; detail: string }[] }[] };
    expect(j.results.map((x) => [x.vendor, x.status])).toEqual([['intel-vtd', 'pass'], ['arm-smmuv3', 'unsupported'], ['power-tce', 'unsupported'], ['riscv-iommu', 'pass']]);
    expect(j.results[1].steps[4]).toMatchObject({ status: 'unsupported', detail: "GET_INFO of IOASID 1 lists protocols map, user-pasid-table: no 'user-pgtable'" });
    expect(j.results[2].steps[4]).toMatchObject({ status: 'unsupported', detail: "GET_INFO of IOASID 1 lists protocols map: no 'user-pgtable'" });
  });

  it('run of BIND_PASID_TABLE passes on SMMUv3 and RISC-V only', () => {
    const r = ioasid(['run', '5.7-bind-pasid-table', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { results: { vendor: string; status: string }[] };
    expect(j.results.map((x) => [x.vendor, x.status])).toEqual([['intel-vtd', 'unsupported'], ['arm-smmuv3', 'pass'], ['power-tce', 'unsupported'], ['riscv-iommu', 'pass']]);
  });

  it('a scenario schema error names file, line and column and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-e2e-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'title: broken\nsteps:\n  - bind: { device: dev1 }\n  - attach: { device: dev1, ioasid: [1] }\n');
    const r = ioasid(['run', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`ioasid: ${file}:4:37: step 2 (attach): ioasid: expected an integer (4096, 0x1000, 2M) or a $reference\n`);
  });

  it('a failing step exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-e2e-'));
    const file = join(dir, 'fails.yaml');
    writeFileSync(file, 'title: fails\nsteps:\n  - free: { ioasid: 3 }\n');
    const r = ioasid(['run', file, '--vendor', 'intel-vtd']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/ {3}1 {2}free +FAIL \(.*fails\.yaml:3\) +ENOENT: ioasid 3 does not exist in this fd\n/);
    expect(r.out).toContain(`FAIL (${file}:3)`);
  });

  it('dump prints the page table decoded from memory', () => {
    const r = ioasid(['dump', '5.1-simple-dma', '--ioasid', 'gpa', '--vendor', 'intel-vtd']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^IOASID 1 after scenario 5\.1-simple-dma on intel-vtd \(decoded from memory\)\n/);
    expect(r.out).toMatch(/level \d table at 0x[0-9a-f]+/);
    expect(r.out).toMatch(/= 0x[0-9a-f]{16} {2}iova 0x0 {2}/);
    const dot = ioasid(['dump', '5.1-simple-dma', '--ioasid', '1', '--vendor', 'power-tce', '--format', 'dot']);
    expect(dot.code).toBe(0);
    expect(dot.out).toMatch(/^digraph "ioasid 1" \{\n/);
    expect(dot.out).toMatch(/\}\n$/);
  });

  it('bench --quick --json: one object per row, every figure a median of interleaved rounds with its spread and verdict', () => {
    const r = ioasid(['bench', '--quick', '--json', '--vendor', 'power-tce']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { vendor: string; name: string; value: number | null; unit: string; baseline: number | null; ratio: number | null; median: number | null; min: number | null; max: number | null; verdict: string; target: { max: number; of: 'ratio' | 'value' } | null; targetText: string; met: boolean | null }[];
    const names = new Set(rows.map((x) => x.name));
    for (const n of ['map-4k', 'unmap-4k', 'map-4k-cold', 'map-64g-4k', 'map-huge', 'map-scaling', 'alloc-scaling', 'translate-hit', 'translate-walk', 'dma-api', 'translate-nested', 'shadow-update', 'memory-per-gib', 'dirty-harvest', 'dirty-harvest-scaling']) {
      expect(names.has(n), n).toBe(true);
    }
    for (const row of rows) {
      expect(row.vendor).toBe('power-tce');
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['vendor', 'name', 'value', 'unit', 'baseline', 'ratio', 'median', 'min', 'max', 'verdict', 'target']));
      // Targets are numbers a script can compare, and the verdict follows the spread.
      if (row.target !== null) {
        expect(typeof row.target.max).toBe('number');
        const v = row.max! <= row.target.max ? 'met' : row.min! > row.target.max ? 'missed' : 'unstable';
        expect(row.verdict).toBe(v);
        expect(row.met).toBe(v === 'met');
      } else {
        expect(row.met).toBeNull();
        expect(row.verdict).toBe('report');
      }
    }
    const bad = ioasid(['bench', '--vendor', 'nonesuch']);
    expect(bad.code).toBe(2);
  }, 120_000);
});
