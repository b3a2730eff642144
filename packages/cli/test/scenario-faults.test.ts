import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listVendors, type VendorRegistration } from '@ioasid/core';
import '@ioasid/intel-vtd';
import '@ioasid/arm-smmuv3';
import '@ioasid/power-tce';
import { memoryIo } from '../src/io.js';
import { runCli } from '../src/program.js';
import { listBuiltinScenarios } from '../src/scenario/builtins.js';
import { checkScenarioFaults } from '../src/scenario/faults.js';
import { ScenarioError, parseScenario } from '../src/scenario/load.js';

const BUILTIN = ['intel-vtd', 'arm-smmuv3', 'power-tce'];
const builtins = (): VendorRegistration[] => listVendors().filter((r) => BUILTIN.includes(r.vendor));

const head = 'title: t\nsteps:\n  - bind: { device: dev1 }\n';

/** The ScenarioError checkScenarioFaults throws for `text`, or undefined if it accepts it. */
function faultError(text: string, registered = builtins()): ScenarioError | undefined {
  try {
    checkScenarioFaults(parseScenario(text, 'flow.yaml'), registered);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  return undefined;
}

describe('fault names are checked against the vendors\' catalogues before a run (issue 19)', () => {
  it('a misspelt name: file, line, column and a did-you-mean', () => {
    const e = faultError(`${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: F_TRANSLATOIN }\n`);
    expect(e?.message).toBe(
      "flow.yaml:4:58: step 2 (dma-read): fault: no vendor reports a fault named 'F_TRANSLATOIN' (see 'ioasid info --faults'); did you mean 'F_TRANSLATION'?",
    );
    expect([e?.line, e?.col]).toEqual([4, 58]);
  });

  it('every misspelt name of a list, each at its place', () => {
    const e = faultError(`${head}  - dma-write:\n      device: dev1\n      iova: 0\n      bytes: "00"\n      fault: [F_TRANSLATION, TCE_INVALD, SS_PAGING_ENTRY_X]\n`);
    expect(e?.message.split('\n')).toEqual([
      "flow.yaml:8:30: step 2 (dma-write): fault[1]: no vendor reports a fault named 'TCE_INVALD' (see 'ioasid info --faults'); did you mean 'TCE_INVALID'?",
      "flow.yaml:8:42: step 2 (dma-write): fault[2]: no vendor reports a fault named 'SS_PAGING_ENTRY_X' (see 'ioasid info --faults'); did you mean 'SS_PAGING_ENTRY_P'?",
    ]);
  });

  it("the per-vendor form: each name against that vendor's own catalogue, and the vendor names themselves", () => {
    const e = faultError(
      `${head}  - enqcmd:\n      device: dev1\n      guestPasid: 1\n      iova: 0\n      bytes: "00"\n      fault: { arm-smmuv3: F_TRANSLATOIN, power-tce: TCE_INVALID, intel-vtd: TCE_INVALID, arm-smmu: F_TRANSLATION }\n`,
    );
    expect(e?.message.split('\n')).toEqual([
      "flow.yaml:9:28: step 2 (enqcmd): fault.arm-smmuv3: arm-smmuv3 reports no fault named 'F_TRANSLATOIN' (see 'ioasid info --faults'); did you mean 'F_TRANSLATION'?",
      "flow.yaml:9:78: step 2 (enqcmd): fault.intel-vtd: intel-vtd reports no fault named 'TCE_INVALID' (see 'ioasid info --faults')",
      "flow.yaml:9:91: step 2 (enqcmd): fault.arm-smmu: unknown vendor 'arm-smmu' (registered: intel-vtd, arm-smmuv3, power-tce); did you mean 'arm-smmuv3'?",
    ]);
  });

  it('a step or scenario limited to some vendors: the name must be one of theirs', () => {
    const e = faultError(`${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: F_TRANSLATION }\n    vendors: [intel-vtd, power-tce]\n`);
    expect(e?.message).toBe(
      "flow.yaml:4:58: step 2 (dma-read): fault: no vendor this step runs on (intel-vtd, power-tce) reports a fault named 'F_TRANSLATION' (see 'ioasid info --faults')",
    );
    expect(faultError(`vendors: [arm-smmuv3]\n${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: F_TRANSLATION }\n`)).toBeUndefined();
  });

  it('accepts true, known names in every form, and any name for a vendor without a catalogue', () => {
    const ok = `${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: true }
  - dma-read: { device: dev1, iova: 0, length: 4, fault: TCE_INVALID }
  - dma-read: { device: dev1, iova: 0, length: 4, fault: [SS_PAGING_ENTRY_P, F_TRANSLATION] }
  - dma-read: { device: dev1, iova: 0, length: 4, fault: { arm-smmuv3: [F_TRANSLATION, F_PERMISSION], power-tce: TCE_INVALID } }
`;
    expect(faultError(ok)).toBeUndefined();
    const bare = { ...builtins()[0], vendor: 'bare', faults: undefined } as VendorRegistration;
    expect(faultError(`${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: ANYTHING }\n`, [...builtins(), bare])).toBeUndefined();
    expect(faultError(`${head}  - dma-read: { device: dev1, iova: 0, length: 4, fault: { bare: ANYTHING } }\n`, [bare])).toBeUndefined();
  });

  it('the built-in scenarios pass the check', () => {
    for (const sc of listBuiltinScenarios()) expect(() => checkScenarioFaults(sc, builtins())).not.toThrow();
  });
});

describe('run, report and dump refuse a misspelt fault name with exit 2 before running', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ioasid-faults-'));
  const file = join(dir, 'typo.yaml');
  writeFileSync(
    file,
    `title: typo
steps:
  - bind: { device: dev1 }
  - alloc: {}
    as: gpa
  - attach: { device: dev1, ioasid: $gpa }
  - dma-read: { device: dev1, iova: 0x5000, length: 4, fault: F_TRANSLATOIN }
`,
  );
  const want = `ioasid: ${file}:7:63: step 4 (dma-read): fault: no vendor reports a fault named 'F_TRANSLATOIN' (see 'ioasid info --faults'); did you mean 'F_TRANSLATION'?\n`;

  it.each([
    ['run', [file]],
    ['report', [file, '-o', join(dir, 'out.html')]],
    ['dump', [file, '--ioasid', 'gpa', '--vendor', 'arm-smmuv3']],
  ])('%s', async (command, args) => {
    const io = memoryIo();
    const code = await runCli([command, ...args], io);
    expect(io.stderr).toBe(want);
    expect(code).toBe(2);
    expect(io.stdout).toBe('');
  });
});
