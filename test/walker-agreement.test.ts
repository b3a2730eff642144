/**
 * Walker vs engine, once for every vendor (issue 16 item 5): each vendor's hardware model walks a
 * table core's radix engine built, and must answer every DMA exactly as `RadixPageTable.lookup`
 * decodes that table (composed with the stage-2 table under a nested one): the output frame where
 * the entry grants the access, the vendor's "not mapped" fault where there is no leaf, and its
 * permission fault where the leaf does not grant it. Rows come from each vendor's harness
 * (packages/<vendor>/test/agreement-harness.ts): the hardware over a raw table of every format test
 * configuration it can walk, plus the cases its driver builds (a VT-d map domain and a bound guest
 * table, POWER dynamic windows of random geometry).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PROT_READ, PROT_WRITE, contiguousRuns, entryShift, type FaultRecord, type PtFormat } from '@ioasid/core';
import type { AgreementCase, AgreementHarness, AgreementRig } from './support/walker-agreement.js';
import { vtdAgreement } from '../packages/intel-vtd/test/agreement-harness.js';
import { smmuAgreement } from '../packages/arm-smmuv3/test/agreement-harness.js';
import { powerAgreement } from '../packages/power-tce/test/agreement-harness.js';
import { riscvAgreement } from '../packages/riscv-iommu/test/agreement-harness.js';

const HARNESSES: AgreementHarness[] = [vtdAgreement, smmuAgreement, powerAgreement, riscvAgreement];
const ROWS = HARNESSES.flatMap((h) => h.cases.map((c) => ({ title: `${h.vendor}: ${c.name}`, c })));

const U30 = 2 ** 30;

/** The smallest leaf above one page, in pages, if the format has one of at most 2^13 pages (2 MiB of 4K, 32 MiB of 16K, 512 MiB of 64K). */
function bigLeafPages(fmt: PtFormat): number {
  for (let l = 1; l < fmt.levels; l++) {
    if (!fmt.leafAllowed(l)) continue;
    const pages = 2 ** (entryShift(fmt, l) - fmt.pageShift);
    return pages <= 2 ** 13 ? pages : 0;
  }
  return 0;
}

const alignUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** What the hardware must answer for input `frame`, from the engine's lookup alone. */
function expected(rig: AgreementRig, frame: number, write: boolean): { frame: number } | { fault: string } {
  const leaf = rig.table.lookup(frame);
  if (!leaf) return { fault: rig.faultName('absent', write) };
  if (!(leaf.perms & (write ? PROT_WRITE : PROT_READ))) return { fault: rig.faultName('denied', write) };
  if (!rig.outer) return { frame: leaf.frame };
  const second = rig.outer.lookup(leaf.frame);
  if (!second) throw new Error(`the rig's stage-2 table does not map output frame 0x${leaf.frame.toString(16)}`);
  return { frame: second.frame };
}

function agree(rig: AgreementRig, frame: number, write: boolean, what: string): void {
  const want = expected(rig, frame, write);
  const got = rig.translate(frame, write);
  rig.afterTranslate?.();
  const where = `${what}: ${write ? 'write' : 'read'} of input frame 0x${frame.toString(16)}`;
  if ('fault' in want) {
    expect(typeof got, `${where} must fault ${want.fault}`).toBe('object');
    expect((got as FaultRecord).name, where).toBe(want.fault);
  } else {
    expect(got, where).toBe(want.frame);
  }
}

const opArb = fc.record({
  far: fc.boolean(),
  at: fc.integer({ min: 0, max: U30 - 1 }),
  pages: fc.integer({ min: 1, max: 2048 }),
  huge: fc.boolean(),
  prot: fc.nat(),
  unmap: fc.boolean(),
});
const probeArb = fc.record({ kind: fc.integer({ min: 0, max: 2 }), u: fc.integer({ min: 0, max: U30 - 1 }), off: fc.nat() });

describe.each(ROWS)('walker vs engine, $title', ({ c }: { c: AgreementCase<unknown> }) => {
  const config = c.config ?? fc.constant(undefined);

  it('every DMA translates to what the engine decodes from the table, or faults as the vendor names it, before and after unmaps (property)', () => {
    fc.assert(
      fc.property(config, fc.array(opArb, { maxLength: 8 }), fc.array(probeArb, { minLength: 8, maxLength: 24 }), (cfg, ops, probes) => {
        const rig = c.create(cfg);
        const fmt = rig.table.fmt;
        const pf = 2 ** (fmt.pageShift - 12); // 4 KiB frames per page of the format
        const inputPages = Math.floor(rig.inputFrames / pf);
        const big = bigLeafPages(fmt);
        const nearPages = Math.min(inputPages, 8 * Math.max(big, 64));
        const outEnd = rig.output.first + rig.output.frames;
        let out = rig.output.first;
        const placed: { frame: number; frames: number }[] = [];
        for (const op of ops) {
          let at = op.far ? Math.floor((op.at / U30) * inputPages) : op.at % nearPages;
          let pages = Math.min(op.pages, 4 * Math.max(big, 1));
          let o = out;
          if (op.huge && big) {
            at -= at % big;
            pages = Math.max(pages, big);
            o = alignUp(out, big * pf);
          }
          pages = Math.min(pages, inputPages - at);
          const frame = at * pf;
          const frames = pages * pf;
          if (pages <= 0 || o + frames > outEnd) continue;
          if (placed.some((p) => frame < p.frame + p.frames && p.frame < frame + frames)) continue;
          if (rig.canMap && !rig.canMap(frame, frames)) continue;
          rig.map(frame, frames, contiguousRuns(o, frames), rig.prots[op.prot % rig.prots.length]);
          placed.push({ frame, frames });
          out = o + frames + pf;
          if (op.unmap && rig.unmap && placed.length > 1) {
            const old = placed.shift()!;
            rig.unmap(old.frame, old.frames);
          }
        }
        const check = (what: string) => {
          const frames = placed.flatMap((p) => [p.frame, p.frame + p.frames - 1, p.frame + (p.frames >> 1)]);
          for (const p of probes) {
            if (p.kind === 0 && placed.length) {
              const m = placed[p.u % placed.length];
              frames.push(Math.min(Math.max(m.frame - 1 + (p.off % (m.frames + 2)), 0), rig.inputFrames - 1)); // inside or next to a map
            } else if (p.kind === 1) {
              frames.push(p.u % (nearPages * pf));
            } else {
              frames.push(Math.floor((p.u / U30) * rig.inputFrames));
            }
          }
          for (const f of frames) for (const write of [false, true]) agree(rig, f, write, what);
        };
        check('after the maps');
        if (rig.unmap) {
          // Unmap every other range: whatever the hardware cached of them must be gone.
          for (const p of placed.filter((_, i) => i % 2 === 0)) rig.unmap(p.frame, p.frames);
          check('after unmapping half');
        }
      }),
      { numRuns: c.numRuns ?? 25 },
    );
  });

  it('a leaf of every size the format allows translates at its first, second, middle and last pages', () => {
    fc.assert(
      fc.property(config, (cfg) => {
        const rig = c.create(cfg);
        const fmt = rig.table.fmt;
        const pf = 2 ** (fmt.pageShift - 12);
        let out = rig.output.first;
        let tried = 0;
        for (let level = 0; level < fmt.levels; level++) {
          if (!fmt.leafAllowed(level)) continue;
          const size = 2 ** (entryShift(fmt, level) - 12); // 4 KiB frames under one leaf
          const at = size; // the second leaf of its size: [size, 2·size), disjoint from every other size's
          const o = alignUp(out, size);
          if (at + size > rig.inputFrames || o + size > rig.output.first + rig.output.frames) continue;
          if (rig.canMap && !rig.canMap(at, size)) continue;
          rig.map(at, size, contiguousRuns(o, size), PROT_READ | PROT_WRITE);
          out = o + size;
          tried++;
          expect(rig.table.lookup(at)!.shift, `the engine placed one leaf at level ${level}`).toBe(entryShift(fmt, level));
          const half = at + Math.floor(size / 2);
          for (const f of new Set([at, at + 1, at + pf, half + 3, half + 3 * pf, at + size - pf, at + size - 1])) {
            if (f < at + size) for (const write of [false, true]) agree(rig, f, write, `leaf of 2^${entryShift(fmt, level)} bytes`);
          }
        }
        expect(tried, 'at least one leaf size fits the rig').toBeGreaterThan(0);
      }),
      { numRuns: c.config ? 5 : 1 },
    );
  });
});
