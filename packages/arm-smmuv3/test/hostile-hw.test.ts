import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FaultRecord } from '@ioasid/core';
import { EVENT, nestedSte } from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of } from './hw-harness.js';

const NAMES = new Set(Object.keys(EVENT));

/**
 * A nested stream whose whole "guest RAM" (IPA 0..1 MiB → a host range) is filled with
 * arbitrary words: the CD table, its L1 descriptors and every stage 1 table are what the
 * guest wrote. Whatever it wrote, the SMMU answers with a translation or an event.
 */
describe('hostile guest memory never throws or hangs the walker', () => {
  it('random CD tables and stage 1 tables (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 511 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { minLength: 1, maxLength: 200 }),
        fc.record({ ctx: fc.oneof(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 0xfffff })), fmt: fc.integer({ min: 0, max: 3 }), cdmax: fc.integer({ min: 0, max: 20 }) }),
        fc.array(fc.record({ ssid: fc.integer({ min: -1, max: 0xfffff }), iova: fc.integer({ min: 0, max: 2 ** 40 }), write: fc.boolean() }), { minLength: 1, maxLength: 20 }),
        (words, ste, reqs) => {
          const b = bareUnit();
          const s2 = hostTable(b.host, 2);
          const ramPa = 0x4000_0000;
          mapRange(s2, 0, ramPa, 1 << 20);
          for (const [frame, slot, v] of words) {
            b.writeWords(ramPa + frame * 4096 + slot * 8, new Uint32Array([Number(v & 0xffffffffn), Number(v >> 32n)]));
          }
          b.writeSte(8, nestedSte({ ctxPtr: ste.ctx * 64, s1fmt: ste.fmt, s1cdmax: ste.cdmax, s1dss: 2, stallDisabled: true }, s2Of(s2), false));
          for (const q of reqs) {
            const r = b.dma(8, q.iova, { pasid: q.ssid, write: q.write });
            if (typeof r === 'number') {
              // A translation must land in guest RAM: stage 2 maps nothing else.
              expect(r * 4096).toBeGreaterThanOrEqual(ramPa);
              expect(r * 4096).toBeLessThan(ramPa + (1 << 20));
            } else {
              expect(NAMES.has((r as FaultRecord).name) || r.name === 'ABORT').toBe(true);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a guest table whose entries point back at themselves terminates at the last level', () => {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    const ramPa = 0x4000_0000;
    mapRange(s2, 0, ramPa, 1 << 20);
    // One guest page at IPA 0x10000 holds a table whose every entry is a table descriptor to itself.
    const loop = new Uint32Array(1024);
    for (let i = 0; i < 512; i++) {
      loop[2 * i] = 0x10000 | 3;
      loop[2 * i + 1] = 0;
    }
    b.writeWords(ramPa + 0x10000, loop);
    // CD 0 at IPA 0x20000 with TTB0 = 0x10000.
    const cd = new Uint32Array(16);
    cd[0] = 16 | (1 << 31) | (3 << 12);
    cd[1] = 5 | (1 << 9) | (1 << 13) | (1 << 14);
    cd[2] = 0x10000;
    b.writeWords(ramPa + 0x20000, cd);
    b.writeSte(8, nestedSte({ ctxPtr: 0x20000, s1fmt: 0, s1cdmax: 0, s1dss: 0, stallDisabled: true }, s2Of(s2), false));
    // Level 3 reads the same entry as a page descriptor without AF: the walk ends there.
    expect(b.dma(8, 0x1234_5000)).toMatchObject({ name: 'F_ACCESS', level: 3 });
    // With AF and AP[1] set, the page it describes is the table page itself.
    for (let i = 0; i < 512; i++) loop[2 * i] = 0x10000 | 0x443; // AF | AP[1] (EL0 access) | page
    b.writeWords(ramPa + 0x10000, loop);
    expect(b.dma(8, 0x1234_5000)).toBe((ramPa + 0x10000) / 4096);
  });
});
