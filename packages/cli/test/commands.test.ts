import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import { listBuiltinScenarios } from '../src/scenario/builtins.js';
import './helpers.js';

async function cli(...args: string[]) {
  const io = memoryIo();
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'ioasid-cli-'));
const flow = join(dir, 'flow.yaml');
writeFileSync(
  flow,
  `title: a mapped page
steps:
  - bind: { device: dev0 }
  - alloc: {}
    as: gpa
  - attach: { device: dev0, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0x200000, size: 2M, hugePages: 2M }
  - map: { ioasid: $gpa, iova: 0x1000, size: 4K }
`,
);

describe('commands in-process (core mock IOMMU)', () => {
  it('info shows GET_INFO per device and per IOASID, bigints in hex', async () => {
    const r = await cli('info', '--vendor', 'mock');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/│ GET_INFO +│ mock +│/);
    expect(r.out).toMatch(/│ page sizes +│ 0x1000 \(4K\) +│\n│ +│ 0x200000 \(2M\) +│/);
    expect(r.out).toMatch(/0x0-0xfedfffff/);
    const j = JSON.parse((await cli('info', '--vendor', 'mock', '--json')).out);
    expect(j.vendors[0].devices[0]).toMatchObject({ name: 'dev0', info: { pageSizes: ['0x1000', '0x200000'], pasidBits: 20 } });
    expect(j.vendors[0].ioasid).toMatchObject({ id: 1, attached: ['dev0', 'dev1'] });
  });

  it('info --faults lists each code a unit reports with its meaning, as text and JSON', async () => {
    const r = await cli('info', '--faults', '--vendor', 'mock');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mock: 4 fault codes\n {2}0x01 {2}NO_CONTEXT {3}the device-table slot of the requester is not valid\n/);
    expect(r.out).toMatch(/^ {2}0x03 {2}NOT_PRESENT {2}no leaf maps the input page$/m);
    const j = JSON.parse((await cli('info', '--faults', '--vendor', 'mock', '--json')).out);
    expect(j.vendors[0].faults[3]).toEqual({ code: 4, name: 'PERMISSION', explain: 'the leaf does not grant the access' });
  });

  it('run reports each step; --json is parseable', async () => {
    const r = await cli('run', flow, '--vendor', 'mock');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/flow on mock: a mapped page/);
    expect(r.out).toMatch(/=> pass \(5 ok\)/);
    const j = JSON.parse((await cli('run', flow, '--vendor', 'mock', '--json')).out);
    expect(j.results[0]).toMatchObject({ vendor: 'mock', status: 'pass' });
    expect(j.results[0].steps).toHaveLength(5);
  });

  it('dump decodes the table level by level, as text, JSON and dot', async () => {
    const text = await cli('dump', flow, '--vendor', 'mock', '--ioasid', 'gpa');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^IOASID 1 after scenario flow on mock \(decoded from memory\)/);
    expect(text.out).toMatch(/level 2 table at 0x[0-9a-f]+ \(1 of 512 entries in use\)/);
    expect(text.out).toMatch(/\[ {2}1\] 0x[0-9a-f]+ = 0x[0-9a-f]{16} {2}iova 0x200000 {2}leaf → 0x[0-9a-f]+/);
    const json = JSON.parse((await cli('dump', flow, '--vendor', 'mock', '--ioasid', '1', '--format', 'json')).out);
    expect(json).toMatchObject({ vendor: 'mock', ioasid: 1, dump: { title: 'mock', root: { level: 2 } } });
    const dot = await cli('dump', flow, '--vendor', 'mock', '--ioasid', '$gpa', '--format', 'dot');
    expect(dot.out).toMatch(/^digraph "ioasid 1" \{/);
    expect(dot.out).toMatch(/d_t:e0 -> d_t_0;/);
  });

  it('dump refuses a name the scenario does not define and a bad format', async () => {
    expect(await cli('dump', flow, '--vendor', 'mock', '--ioasid', 'nothing')).toMatchObject({ code: 2 });
    const bad = await cli('dump', flow, '--ioasid', '1', '--format', 'svg');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^ioasid: option '--format <format>' argument 'svg' is invalid\. Allowed choices are text, json, dot\.\n$/);
  });

  it('usage errors are one line and exit 2', async () => {
    const r = await cli('run');
    expect(r).toMatchObject({ code: 2, err: "ioasid: missing scenario: give a file or a built-in name (see 'ioasid run --list')\n" });
    expect((await cli('run', 'no-such-scenario')).err).toMatch(/no scenario file or built-in scenario named 'no-such-scenario'/);
    expect((await cli('conformance', '--runs', 'many')).code).toBe(2);
    expect((await cli('info', '--vendor', 'sparc')).err).toMatch(/^ioasid: --vendor: unknown vendor 'sparc' \(registered: .*mock.*\)\n$/);
  });
});

describe('built-in scenarios', () => {
  it('all parse, and flows 5.1 to 5.7 are there', () => {
    const all = listBuiltinScenarios();
    const flows = new Set(all.map((s) => s.spec.flow).filter(Boolean));
    expect([...flows].sort()).toEqual(['5.1', '5.2', '5.3', '5.4', '5.5', '5.6', '5.7']);
  });
});
