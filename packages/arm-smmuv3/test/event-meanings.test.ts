import { describe, expect, it } from 'vitest';
import { DmaFault, createMachine } from '@ioasid/core';
import { ABORT_MEANING, EVENT, EVENT_MEANING, encodeSte, explainFault } from '../src/index.js';
import { bareUnit } from './hw-harness.js';

describe('every event has a one-line meaning (SMMUv3 §7.3.2–§7.3.19)', () => {
  it('each event name of the table, and each silent termination, has a non-empty single line', () => {
    const names = [...Object.keys(EVENT), ...Object.keys(ABORT_MEANING)];
    expect(Object.keys(EVENT_MEANING).sort()).toEqual(Object.keys(EVENT).sort());
    for (const n of names) {
      const line = explainFault(n);
      expect(line.length, n).toBeGreaterThan(10);
      expect(line, n).not.toMatch(/\n/);
    }
  });

  it('a fault record without an event explains itself too: STE.Config abort, SMMU_GBPA.ABORT', () => {
    const b = bareUnit();
    b.writeSte(8, encodeSte({ V: 1, Config: 0 }));
    expect(b.dma(8, 0x1000)).toMatchObject({ name: 'ABORT', explain: ABORT_MEANING.ABORT });
    b.unit.write('CR0', 0n);
    b.unit.write('GBPA', 1n << 20n);
    expect(b.dma(8, 0x1000)).toMatchObject({ name: 'GBPA_ABORT', explain: ABORT_MEANING.GBPA_ABORT });
  });

  it('a DmaFault from the machine carries the explanation in its record and its message', () => {
    const m = createMachine({ vendor: 'arm-smmuv3', devices: [{ name: 'dev0' }] });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'dev0' });
    dev.attachIoasid(fd.alloc({ protocol: 'map' }));
    let e: unknown;
    try {
      dev.dmaRead(0x4000_0000n, 4);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(DmaFault);
    const f = e as DmaFault;
    expect(f.record).toMatchObject({ name: 'F_TRANSLATION', explain: EVENT_MEANING.F_TRANSLATION });
    expect(f.message).toContain(EVENT_MEANING.F_TRANSLATION);
  });
});
