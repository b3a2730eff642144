import { overlaps, SIZE_FRAMES, type TlbEntry } from './iotlb.js';

/**
 * The device-TLB (ATS translation cache) of devices whose context entry enables it (DTE). A hit
 * is used by the device without asking the unit; entries leave only through device-TLB
 * invalidation descriptors (type 3 for requests without PASID, type 8 PASID-based).
 */
export class DeviceTlb {
  /** rid → (pasid, or -1 for requests without PASID) → page key → entry. */
  private readonly devs = new Map<number, Map<number, Map<number, TlbEntry>>>();

  lookup(rid: number, pasid: number, iovaFrame: number): TlbEntry | undefined {
    const t = this.devs.get(rid)?.get(pasid);
    if (!t) return undefined;
    for (let s = 0; s < 3; s++) {
      const n = SIZE_FRAMES[s];
      const e = t.get((iovaFrame - (iovaFrame % n)) * 4 + s);
      if (e) return e;
    }
    return undefined;
  }

  /** Whether the device of `rid` holds any entry (it has a device-TLB in use). */
  holds(rid: number): boolean {
    return this.devs.has(rid);
  }

  fill(rid: number, pasid: number, iovaFrame: number, e: TlbEntry): void {
    let d = this.devs.get(rid);
    if (!d) this.devs.set(rid, (d = new Map()));
    this.empty = false;
    let t = d.get(pasid);
    if (!t) d.set(pasid, (t = new Map()));
    const n = SIZE_FRAMES[e.sizeIdx];
    t.set((iovaFrame - (iovaFrame % n)) * 4 + e.sizeIdx, e);
  }

  get size(): number {
    let n = 0;
    for (const d of this.devs.values()) for (const t of d.values()) n += t.size;
    return n;
  }

  /** No device holds an entry (kept as a field: the unit asks on every request). */
  empty = true;

  /** Invalidates entries of `rid` for `pasid` (-1 = without PASID; null = every PASID) in a range. */
  invalidate(rid: number, pasid: number | null, range: { frame: number; frames: number }): void {
    const d = this.devs.get(rid);
    if (!d) return;
    for (const [p, t] of d) {
      if (pasid !== null && p !== pasid) continue;
      for (const k of [...t.keys()]) if (overlaps(k, range)) t.delete(k);
      if (t.size === 0) d.delete(p);
    }
    if (d.size === 0) this.devs.delete(rid);
    this.empty = this.devs.size === 0;
  }
}
