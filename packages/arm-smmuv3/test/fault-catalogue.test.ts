import { describe, expect, it } from 'vitest';
import { findVendor } from '@ioasid/core';
import { ABORT_MEANING, EVENT, EVENT_MEANING, explainFault } from '../src/index.js';

describe('the fault catalogue (ioasid info --faults)', () => {
  it('lists every event of the table by number, then the unrecorded terminations, each with its meaning', () => {
    const faults = findVendor('arm-smmuv3').faults!;
    const events = Object.entries(EVENT).map(([name, code]) => ({ code, name, explain: EVENT_MEANING[name as keyof typeof EVENT_MEANING] }));
    const aborts = Object.entries(ABORT_MEANING).map(([name, explain]) => ({ code: 0, name, explain }));
    expect(faults).toEqual([...events, ...aborts]);
    for (const f of faults) expect(explainFault(f.name)).toBe(f.explain);
    expect(new Set(faults.map((f) => f.name)).size).toBe(faults.length);
  });
});
