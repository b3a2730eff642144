/**
 * Guest-controlled structures that loop back on themselves give a short, complete trace (DESIGN
 * §7: every view of untrusted memory is bounded): the hardware reads at most one entry per level
 * of each stage, so no table contents can make the walk, or its record, grow.
 */
import { describe, expect, it } from 'vitest';
import { isTraceRead } from '@ioasid/core';
import { FirstLevelFormat, SecondLevelFormat } from '../src/index.js';
import { Hand } from './hand.js';
import { allReads, expectWalkIsTranslate } from './walk-support.js';

const HPA = 0x40000000n;

function put(h: Hand, pa: bigint, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  h.host.write(Number(pa), b);
}

/** Reads a walk may make at most: 4 structures, then per first-stage level the entry and a full second-stage fetch, then the output's second-stage walk. */
const bound = (fl: number, sl: number) => 4 + fl * (1 + sl) + sl;

describe('a hostile or cyclic guest structure gives a bounded trace', () => {
  for (const [fl, sl] of [[4, 4], [5, 5], [4, 5]] as const) {
    it(`nested ${fl}-level first stage over a ${sl}-level second stage: every first-stage entry points at its own table`, () => {
      const h = new Hand({ fl: new FirstLevelFormat({ levels: fl }), sl: new SecondLevelFormat({ levels: sl }), addressWidth: sl === 5 ? 57 : 48 });
      h.mapSl(0n, HPA, 16n << 20n);
      const table = 0x100000n; // GPA of the guest's top table
      for (let i = 0n; i < 512n; i++) put(h, HPA + table + i * 8n, table | 0x27n); // P | R/W | U/S | A, no PS: "next table" = itself
      h.pasid(0, { pgtt: 3, flptptr: table });
      for (const input of [0n, 0x5000n, 0x7fff_ffff_f000n, (1n << BigInt(12 + 9 * fl - 1)) - 0x1000n]) {
        for (const write of [false, true]) {
          const t = expectWalkIsTranslate(h.unit, h.host, { rid: 0x08, pasid: -1, iovaFrame: Number(input >> 12n), write, privileged: false });
          const reads = allReads(t);
          expect(reads.length).toBeLessThanOrEqual(bound(fl, sl));
          expect(t.truncated).toBeUndefined();
          // The first-stage reads all hit the same table, each located through the second stage.
          const fs = t.events.filter(isTraceRead).filter((e) => e.stage === 'first-stage');
          expect(fs.length).toBeLessThanOrEqual(fl);
          for (const r of fs) expect(r.via?.map((v) => v.structure).at(-1)).toBe('SS-PDE'); // guest RAM is in 2 MiB second-stage pages
        }
      }
    });
  }

  it('a second stage whose entries point at their own table (a loop in the kernel-side format) ends at the PTE level', () => {
    const h = new Hand();
    h.pasid(0, {});
    const root = h.sl.rootAddr;
    for (let i = 0n; i < 512n; i++) put(h, root + i * 8n, root | 3n);
    for (const frame of [0, 0x12345, 2 ** 36 - 1]) {
      const t = expectWalkIsTranslate(h.unit, h.host, { rid: 0x08, pasid: -1, iovaFrame: frame, write: true, privileged: false });
      expect(allReads(t).map((r) => r.structure)).toEqual([
        'scalable-mode root entry', 'scalable-mode context entry', 'scalable-mode PASID directory entry', 'scalable-mode PASID table entry',
        'SS-PML4E', 'SS-PDPE', 'SS-PDE', 'SS-PTE',
      ]);
      expect(t.output).toBe(root); // the "page" is the table itself: a kernel bug the trace makes plain
    }
  });

  it('root, context and PASID tables pointing at one another: each structure is read once', () => {
    const h = new Hand();
    // The context entry's PASID directory is the root table; its "directory entry" points at the context table.
    h.context(0x08, { pasidDirPtr: h.root });
    h.rawRoot(0, [h.ctxTable | 1n, 0n]);
    const t = expectWalkIsTranslate(h.unit, h.host, { rid: 0x08, pasid: -1, iovaFrame: 0, write: false, privileged: false });
    expect(allReads(t).map((r) => r.structure)).toEqual([
      'scalable-mode root entry', 'scalable-mode context entry', 'scalable-mode PASID directory entry', 'scalable-mode PASID table entry',
    ]);
    expect(t.fault).toBeDefined();
  });
});
