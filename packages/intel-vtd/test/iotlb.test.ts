import { describe, expect, it } from 'vitest';
import { Iotlb, SIZE_FRAMES, TLB_R, TLB_U, TLB_W } from '../src/hw/iotlb.js';
import { PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT, PGTT_SL_ONLY } from '../src/tables/pasid-entry.js';

/** The unbounded reference: every fill kept until an invalidation says otherwise. */
class Reference {
  readonly m = new Map<string, { did: number; pasid: number; pn: number; s: number; out: number; perm: number; pgtt: number }>();
  fill(did: number, pasid: number, frame: number, s: number, out: number, perm: number, pgtt: number): void {
    const pn = Math.floor(frame / SIZE_FRAMES[s]);
    this.m.set(`${did}:${pasid}:${s}:${pn}`, { did, pasid, pn, s, out: out - (frame % SIZE_FRAMES[s]), perm, pgtt });
  }
  get(did: number, pasid: number, frame: number, s: number) {
    return this.m.get(`${did}:${pasid}:${s}:${Math.floor(frame / SIZE_FRAMES[s])}`);
  }
  drop(pred: (e: { did: number; pasid: number; pn: number; s: number; pgtt: number }) => boolean): void {
    for (const [k, e] of [...this.m]) if (pred(e)) this.m.delete(k);
  }
}

const overlaps = (e: { pn: number; s: number }, r: { frame: number; frames: number }) => {
  const n = SIZE_FRAMES[e.s];
  return e.pn * n < r.frame + r.frames && r.frame < e.pn * n + n;
};

describe('IOTLB (bounded, set-associative)', () => {
  it('hits by DID, PASID and page at each size; permissions and output frame', () => {
    const t = new Iotlb(16, 4);
    t.fill(3, 0, 0x12345, 0, 0x999, TLB_R, PGTT_SL_ONLY);
    t.fill(3, 0, 0x40123, 1, 0x80123, TLB_R | TLB_W | TLB_U, PGTT_SL_ONLY);
    let s = t.lookup(3, 0, 0x12345);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(t.outFrame(s, 0x12345)).toBe(0x999);
    expect(t.permits(s, false, false)).toBe(false); // no U
    expect(t.permits(s, false, true)).toBe(true);
    expect(t.permits(s, true, true)).toBe(false);
    s = t.lookup(3, 0, 0x401ff);
    expect(t.outFrame(s, 0x401ff)).toBe(0x801ff);
    expect(t.entry(s)).toMatchObject({ did: 3, pasid: 0, frame: 0x80000, sizeIdx: 1, read: true, write: true, user: true });
    expect(t.lookup(4, 0, 0x12345)).toBe(-1);
    expect(t.lookup(3, 1, 0x12345)).toBe(-1);
    expect(t.size).toBe(2);
  });

  it('never holds more than its capacity, and refilling a page replaces its entry', () => {
    const t = new Iotlb(8, 2);
    for (let f = 0; f < 1000; f++) t.fill(1, 0, f, 0, f + 7, TLB_R, PGTT_SL_ONLY);
    expect(t.size).toBe(16);
    t.fill(1, 0, 999, 0, 5, TLB_R | TLB_W, PGTT_SL_ONLY);
    expect(t.size).toBe(16);
    expect(t.outFrame(t.lookup(1, 0, 999), 999)).toBe(5);
  });

  it('without replacement (one set wider than the key space), it holds exactly what the unbounded model holds', () => {
    let x = 777;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), (x >>> 8) % n); // high bits: an LCG's low bits cycle
    // 2 DIDs × 2 PASIDs × 3 sizes × 10 page numbers = 120 keys ≤ 128 ways: nothing is ever replaced.
    const t = new Iotlb(1, 128);
    const ref = new Reference();
    const pgtts = [PGTT_SL_ONLY, PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT];
    for (let step = 0; step < 20000; step++) {
      const did = 1 + rnd(2);
      const pasid = rnd(2);
      const s = rnd(3);
      const f = rnd(10) * SIZE_FRAMES[s] + rnd(SIZE_FRAMES[s]);
      const op = rnd(10);
      if (op < 6) {
        const pgtt = pgtts[rnd(4)];
        const out = rnd(1 << 20) * SIZE_FRAMES[s] + (f % SIZE_FRAMES[s]);
        t.fill(did, pasid, f, s, out, 1 + rnd(7), pgtt);
        ref.fill(did, pasid, f, s, out, 1, pgtt);
      } else {
        const frames = SIZE_FRAMES[rnd(3)] * 2 ** rnd(3);
        const range = rnd(3) === 0 ? undefined : { frame: f - (f % frames), frames };
        if (op < 8) {
          t.invalidateDomain(did, range);
          ref.drop((e) => e.did === did && e.pgtt !== PGTT_FL_ONLY && (!range || e.pgtt === PGTT_NESTED || overlaps(e, range)));
        } else if (op < 10) {
          t.invalidatePasid(did, pasid, range);
          ref.drop((e) => e.did === did && e.pasid === pasid && (e.pgtt === PGTT_FL_ONLY || e.pgtt === PGTT_NESTED) && (!range || overlaps(e, range)));
        }
      }
      expect(t.size).toBe(ref.m.size);
    }
    for (const e of ref.m.values()) {
      const slot = t.lookup(e.did, e.pasid, e.pn * SIZE_FRAMES[e.s]);
      expect(slot).toBeGreaterThanOrEqual(0);
    }
  });

  it('random fills and invalidations never leave an entry the unbounded model has dropped', () => {
    let x = 12345;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), (x >>> 8) % n); // high bits: an LCG's low bits cycle
    const t = new Iotlb(32, 4);
    const ref = new Reference();
    const pgtts = [PGTT_SL_ONLY, PGTT_FL_ONLY, PGTT_NESTED, PGTT_PT];
    // A small input space, so that fills collide, replace and invalidations hit.
    const frameOf = () => (rnd(4) === 0 ? 2 ** 40 + rnd(2048) : rnd(1 << 13));
    const filled: [number, number, number][] = [];
    let hits = 0;
    for (let step = 0; step < 20000; step++) {
      const op = rnd(20);
      const did = 1 + rnd(3);
      const pasid = rnd(2);
      if (op < 14) {
        const f = frameOf();
        const s = rnd(5) === 0 ? 1 + rnd(2) : 0;
        const out = rnd(1 << 22) * SIZE_FRAMES[s] + (f % SIZE_FRAMES[s]);
        const perm = 1 + rnd(7);
        const pgtt = pgtts[rnd(4)];
        t.fill(did, pasid, f, s, out, perm, pgtt);
        ref.fill(did, pasid, f, s, out, perm, pgtt);
        filled.push([did, pasid, f]);
      } else {
        const am = rnd(3) === 0 ? rnd(20) : rnd(3);
        const frames = 2 ** am;
        const frame = frameOf() - (frameOf() % frames);
        const range = rnd(3) === 0 ? undefined : { frame: frame - (frame % frames), frames };
        if (op < 16) {
          t.invalidateDomain(did, range);
          ref.drop((e) => e.did === did && e.pgtt !== PGTT_FL_ONLY && (!range || e.pgtt === PGTT_NESTED || overlaps(e, range)));
        } else if (op < 19) {
          t.invalidatePasid(did, pasid, range);
          ref.drop((e) => e.did === did && e.pasid === pasid && (e.pgtt === PGTT_FL_ONLY || e.pgtt === PGTT_NESTED) && (!range || overlaps(e, range)));
        } else if (rnd(10) === 0) {
          t.invalidateAll();
          ref.drop(() => true);
        }
      }
      // Every cached translation is one the reference still has, with the same contents.
      if (step % 50 === 0 && filled.length > 0) {
        for (let k = 0; k < 40; k++) {
          const [d, p, f] = filled[filled.length - 1 - rnd(Math.min(filled.length, 200))];
          const slot = t.lookup(d, p, f);
          if (slot < 0) continue;
          hits++;
          const e = t.entry(slot);
          const r = ref.get(d, p, f, e.sizeIdx);
          expect(r, `stale entry for did ${d} pasid ${p} frame ${f}`).toBeDefined();
          expect(t.outFrame(slot, f)).toBe(r!.out + (f % SIZE_FRAMES[e.sizeIdx]));
          expect(e.pgtt).toBe(r!.pgtt);
        }
      }
      expect(t.size).toBeLessThanOrEqual(t.capacity);
    }
    expect(hits).toBeGreaterThan(1000);
    // And what the reference holds and the IOTLB still caches agrees entry by entry.
    for (const e of ref.m.values()) {
      const slot = t.lookup(e.did, e.pasid, e.pn * SIZE_FRAMES[e.s]);
      if (slot >= 0 && t.entry(slot).sizeIdx === e.s) expect(t.entry(slot).frame).toBe(e.out);
    }
  });
});
