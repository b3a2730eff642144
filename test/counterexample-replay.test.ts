/**
 * A failing property's counterexample as a scenario file (packages/conformance/src/replay): the
 * expectation of the failing check lands on the step of the call it watched, the file replays to
 * the same failure, and a run that no scenario can hold says why instead of writing one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findVendor } from '@ioasid/core';
import '@ioasid/intel-vtd';
import { executeCase, probeCaps, type CaseDef, type KitEnv } from '@ioasid/conformance';
import { check, expectDmaFault, expectErrno, newMachine, openFd } from '../packages/conformance/src/kit.js';
import { assertProperty } from '../packages/conformance/src/properties/common.js';
import { parseScenario } from '../packages/cli/src/scenario/load.js';
import { runScenario } from '../packages/cli/src/scenario/runner.js';

const env: KitEnv = { vendor: 'intel-vtd', runs: 5, machineOptions: {}, seed: 7 };
const caps = probeCaps(env);

function failing(body: (n: number) => void): { scenario?: string; scenarioReplays?: boolean; error?: string } {
  const def: CaseDef = { id: 'prop-demo', title: 'demo', group: 'property', run: (e) => assertProperty(e, 'prop-demo', fc.integer({ min: 0, max: 9 }), body) };
  const { result } = executeCase(def, env, caps);
  expect(result.status).toBe('fail');
  return result;
}

function replay(text: string) {
  return runScenario(parseScenario(text, 'cex.yaml'), findVendor('intel-vtd')).report;
}

describe('a failing check is stated on the step of the call it watched', () => {
  it('an errno the kit expected: the step expects it, and the replay fails there', () => {
    const r = failing(() => {
      const m = newMachine(env);
      const { fd } = openFd(m, 'dev0');
      expectErrno(() => fd.alloc({ protocol: 'map' }), 'EINVAL', 'ALLOC that the demo wants refused');
    });
    expect(r.scenarioReplays).toBe(true);
    expect(r.scenario).toMatch(/\nsteps:\n {2}- bind: \{ device: "dev0", label: "dev0@kit" \}\n {2}- alloc: \{\}\n {4}expect: EINVAL\n {4}as: ioasid1\n$/);
    const rep = replay(r.scenario!);
    expect(rep.status).toBe('fail');
    expect(rep.steps.at(-1)).toMatchObject({ op: 'alloc', status: 'fail', detail: expect.stringMatching(/^expected EINVAL, but the step succeeded/) });
    // The error message carries the file too (for test frameworks that print only the error).
    expect(r.error).toMatch(/as a scenario file \(replays to the same failure\):\n {4}# The shrunk counterexample of prop-demo on intel-vtd/);
  });

  it('a DMA the kit expected blocked: fault: true on its step; its earlier faults keep their names', () => {
    const r = failing(() => {
      const m = newMachine(env);
      const { fd, devs } = openFd(m, 'dev0');
      const a = fd.alloc({ protocol: 'map' });
      devs[0].attachIoasid(a);
      const va = m.vmm.mmap(4096n);
      expectDmaFault(devs[0], () => devs[0].dmaRead(0x10000n, 8), 'unmapped read');
      fd.mapDma({ ioasid: a, iova: 0x10000n, vaddr: va, size: 4096n });
      expectDmaFault(devs[0], () => devs[0].dmaRead(0x10000n, 8), 'the demo wants the mapped read blocked');
    });
    expect(r.scenario).toContain('  - dma-read: { device: "dev0", iova: "0x10000", length: 8, fault: "SS_PAGING_ENTRY_P" }\n  - reset: { device: "dev0" }\n');
    expect(r.scenario).toContain('  - map: { ioasid: "$ioasid1", iova: "0x10000", vaddr: "$buf1", size: "0x1000" }\n');
    expect(r.scenario).toMatch(/ {2}- dma-read: \{ device: "dev0", iova: "0x10000", length: 8, fault: true \}\n$/);
    expect(replay(r.scenario!).steps.at(-1)).toMatchObject({ status: 'fail', detail: 'DMA went through, expected a fault' });
  });

  it('a check no step can state: the file replays the calls and names the check at its top', () => {
    const r = failing(() => {
      const m = newMachine(env);
      openFd(m, 'dev0');
      check(m.fds.size === 2, 'the demo wants two fds');
    });
    expect(r.scenarioReplays).toBe(false);
    expect(r.scenario).toMatch(/^# The shrunk .*\n# Replay: .*\n# The kit's check that failed after the last step \(no step states it\): the demo wants two fds\n/);
    expect(replay(r.scenario!).status).toBe('pass');
  });
});

describe('runs that no scenario can hold say why', () => {
  it.each([
    ['a second fd', () => { const m = newMachine(env); m.openIoasidFd(); m.openIoasidFd(); throw new Error('x'); }, 'the run opens a second IOASID fd (a scenario has one)'],
    ['a second machine', () => { newMachine(env); newMachine(env); throw new Error('x'); }, 'the run makes a second machine (a scenario has one)'],
    ['injected allocation failures', () => { newMachine(env).injectAllocFailure(1); throw new Error('x'); }, 'the run injects allocation failures (a scenario has no step for that)'],
  ])('%s', (_name, body, reason) => {
    const r = failing(body);
    expect(r.scenario).toBeUndefined();
    expect(r.error).toContain(`(no scenario file: ${reason})`);
  });
});
