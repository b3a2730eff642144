/**
 * The traced walk (IommuUnit.walk) is translate's own walk: on a unit whose caches are empty it
 * gives exactly what translate gives (frame, or the same fault record but for the FRCD index),
 * and every structure it shows is host memory as it stood. Driven over the walker-agreement rigs
 * (raw tables of every format the unit walks, a driver map domain, a bound guest table) with
 * random maps and unmaps, and over tables written by hand and then corrupted one read word at a
 * time (the words the walk itself showed: root, context, PASID directory and table entries,
 * first- and second-stage entries, nested fetches included).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { contiguousRuns, PROT_READ, PROT_WRITE, type DmaRequest } from '@ioasid/core';
import { vtdCases } from './agreement-harness.js';
import { Hand, NO_MEMORY } from './hand.js';
import { allReads, expectWalkIsTranslate, traced } from './walk-support.js';

const opArb = fc.record({ at: fc.nat({ max: 8191 }), pages: fc.integer({ min: 1, max: 64 }), huge: fc.boolean(), write: fc.boolean(), unmap: fc.boolean() });
const probeArb = fc.record({ kind: fc.nat({ max: 3 }), u: fc.nat(), write: fc.boolean() });

describe.each(vtdCases.map((c) => ({ title: c.name, c })))('walk = translate, $title', ({ c }) => {
  it('after random maps and unmaps, for mapped, unmapped and edge inputs (property)', () => {
    fc.assert(
      fc.property(c.config ?? fc.constant(undefined), fc.array(opArb, { maxLength: 6 }), fc.array(probeArb, { minLength: 6, maxLength: 16 }), (cfg, ops, probes) => {
        const rig = c.create(cfg);
        const big = rig.table.fmt.leafAllowed(1) ? 512 : 0;
        const used = new Set<number>();
        const mapped: { frame: number; frames: number }[] = [];
        let out = 0;
        for (const op of ops) {
          if (op.unmap && rig.unmap && mapped.length) {
            const m = mapped.splice(op.at % mapped.length, 1)[0];
            rig.unmap(m.frame, m.frames);
            for (let k = 0; k < m.frames; k++) used.delete(m.frame + k);
            continue;
          }
          const frames = op.huge && big ? big : op.pages;
          const frame = op.huge && big ? big * (op.at % 16) : op.at;
          const outFrame = op.huge && big ? Math.ceil(out / big) * big : out;
          if (outFrame + frames > rig.output.frames || (rig.canMap && !rig.canMap(frame, frames))) continue;
          if (Array.from({ length: frames }, (_, k) => frame + k).some((f) => used.has(f))) continue;
          rig.map(frame, frames, contiguousRuns(rig.output.first + outFrame, frames), PROT_READ | (op.write ? PROT_WRITE : 0));
          for (let k = 0; k < frames; k++) used.add(frame + k);
          mapped.push({ frame, frames });
          out = outFrame + frames;
        }
        const edges = [rig.inputFrames - 1, rig.inputFrames, 2 ** 36, 2 ** 52 - 1];
        for (const p of probes) {
          const m = mapped.length ? mapped[p.u % mapped.length] : undefined;
          const frame = p.kind === 0 && m ? m.frame + (p.u % m.frames) : p.kind === 1 && m ? m.frame + m.frames : p.kind === 2 ? edges[p.u % edges.length] : p.u % rig.inputFrames;
          expectWalkIsTranslate(rig.unit, rig.host, rig.request(frame, p.write));
        }
      }),
      { numRuns: c.numRuns ? Math.min(c.numRuns, 12) : 12 },
    );
  });
});

const HPA = 0x40000000n;

/** A unit with three routes written by hand: PASID 0 second-stage, PASID 1 first-stage, PASID 2 nested. */
function handTables(): Hand {
  const h = new Hand();
  h.mapSl(0n, HPA + 0x1000n, 16n << 20n); // guest RAM GPA [0, 16 MiB), in 4 KiB pages
  h.mapSl(0x40000000n, 0x80000000n, 1n << 30n); // one 1 GiB page
  h.mapFl(0x10000n, HPA, 0x4000n);
  h.mapFl(0x200000n, 0x1000000n, 0x200000n, PROT_READ);
  const gput = (gpa: bigint, v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    h.host.write(Number(HPA + 0x1000n + gpa), b);
  };
  // A guest table at GPA 0x100000 maps GVA 0x5000 → GPA 0x345000 (x86 P | R/W | U/S | A).
  gput(0x100000n, 0x101000n | 0x27n);
  gput(0x101000n, 0x102000n | 0x27n);
  gput(0x102000n, 0x103000n | 0x27n);
  gput(0x103000n + 5n * 8n, 0x345000n | 0x67n);
  h.pasid(0, {});
  h.pasid(1, { pgtt: 1 });
  h.pasid(2, { pgtt: 3, flptptr: 0x100000n });
  return h;
}

const INPUTS = [0x5000n, 0x10000n, 0x12000n, 0x13000n, 0x200000n, 0x345000n, 0x40000000n, 0x40001000n, 0x7fff_ffff_f000n, 1n << 47n, 0xfee00000n];
const reqArb = fc.record({ input: fc.constantFrom(...INPUTS), pasid: fc.constantFrom(-1, 0, 1, 2, 3, 64, 1 << 19), write: fc.boolean(), privileged: fc.boolean() });
const req = (r: { input: bigint; pasid: number; write: boolean; privileged: boolean }): DmaRequest => ({
  rid: 0x08, pasid: r.pasid, iovaFrame: Number(r.input >> 12n), write: r.write, privileged: r.privileged,
});
/** A new value for one word the walk read: random bits, one bit flipped, no memory behind it, or a pointer back at a table just read. */
const pokeArb = fc.record({ pick: fc.nat(), word: fc.nat(), how: fc.nat({ max: 3 }), bits: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), bit: fc.nat({ max: 63 }) });

describe('walk = translate over hand-written tables corrupted word by word', () => {
  it('each word the walk read, overwritten in turn: the walk still equals translate and shows memory as it is (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(reqArb, pokeArb), { minLength: 1, maxLength: 10 }), fc.array(reqArb, { minLength: 3, maxLength: 8 }), (steps, probes) => {
        const h = handTables();
        for (const [r, p] of steps) {
          const reads = allReads(expectWalkIsTranslate(h.unit, h.host, req(r)));
          if (reads.length === 0) continue;
          // Mostly paging entries: a broken root or context entry would end every later walk early.
          const paging = reads.filter((x) => x.level !== undefined);
          const from = paging.length && p.pick % 4 !== 0 ? paging : reads;
          const target = from[(p.pick >> 2) % from.length];
          const word = p.word % target.raw.length;
          const old = target.raw[word];
          const tableOf = reads[(p.pick >> 3) % reads.length].addr! & ~0xfffn;
          const v = [p.bits, old ^ (1n << BigInt(p.bit)), NO_MEMORY | (old & 0xfffn), tableOf | (old & 0xfffn)][p.how];
          const put = (x: bigint) => {
            const b = new Uint8Array(8);
            new DataView(b.buffer).setBigUint64(0, x, true);
            h.host.write(Number(target.addr!) + 8 * word, b);
          };
          put(v);
          for (const q of [r, ...probes]) expectWalkIsTranslate(h.unit, h.host, req(q));
          put(old); // one corruption at a time (A/D bits the walks set stay)
        }
      }),
      { numRuns: 60 },
    );
  });

  it('every stage the hand-written routes use is reached and shown (a check on the property above)', () => {
    const h = handTables();
    const walk = (input: bigint, pasid: number) => allReads(traced(h.unit, { rid: 0x08, pasid, iovaFrame: Number(input >> 12n), write: false, privileged: false }).trace);
    const ss = walk(0x40000000n, -1);
    expect(ss.map((r) => r.structure).slice(-2)).toEqual(['SS-PML4E', 'SS-PDPE']);
    expect(ss.at(-1)!.decided).toBe('PS = 1: maps a 1 GiB page');
    expect(walk(0x12000n, 1).map((r) => r.structure).slice(-4)).toEqual(['PML4E', 'PDPE', 'PDE', 'PTE']);
    expect(walk(0x5000n, 2).filter((r) => r.stage === 'first-stage')).toHaveLength(4);
  });
});
