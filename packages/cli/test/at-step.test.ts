import { describe, expect, it } from 'vitest';
import { runToStep } from '../src/scenario/at-step.js';
import { mockVendor, scenario } from './helpers.js';

describe('runToStep (dump, walk, snapshot)', () => {
  it('a scenario that does not run through names the failing step with its place in the file', () => {
    const sc = scenario('title: t\nsteps:\n  - alloc: {}\n  - free: { ioasid: 7 }\n', 'flow.yaml');
    expect(() => runToStep(sc, [mockVendor()], 'mock', undefined)).toThrow(
      "scenario 'flow' did not run through:\n  mock: fail at step 2 (free, flow.yaml:4): ENOENT: ioasid 7 does not exist in this fd",
    );
  });

  it('refuses a misspelt fault name before running', () => {
    const sc = scenario('title: t\nsteps:\n  - dma-read: { device: dev0, iova: 0, length: 4, fault: NOT_PRESNET }\n', 'flow.yaml');
    expect(() => runToStep(sc, [mockVendor()], 'mock', undefined)).toThrow(
      "flow.yaml:3:58: step 1 (dma-read): fault: no vendor reports a fault named 'NOT_PRESNET' (see 'ioasid info --faults'); did you mean 'NOT_PRESENT'?",
    );
  });
});
