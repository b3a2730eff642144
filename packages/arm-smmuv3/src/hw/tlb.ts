/**
 * The SMMU TLB. Entries are tagged like the architecture's: stage 1 (and combined stage 1+2)
 * entries by (VMID, ASID) — "NH" entries —, stage-2-only entries by VMID. An entry covers one
 * leaf of the combined translation (the smaller of the stage 1 and stage 2 leaves) and is found
 * by probing each leaf size present for its tag. Only TLBI commands remove entries (and a full
 * TLB drops everything, which any TLB may do).
 */
export interface TlbEntry {
  /** Output (host) 4 KiB frame of the leaf's first page. */
  readonly out: number;
  /** Intermediate (IPA) frame of the leaf's first page, for stage 2 fault reports. */
  readonly ipa: number;
  /** P_* permission bits of both stages. */
  readonly perms: number;
}

const KIND_NH = 1;
const KIND_S2 = 2;

export function nhTag(vmid: number, asid: number): number {
  return KIND_NH * 2 ** 32 + vmid * 65536 + asid;
}

export function s2Tag(vmid: number): number {
  return KIND_S2 * 2 ** 32 + vmid * 65536;
}

function tagKind(tag: number): number {
  return Math.floor(tag / 2 ** 32);
}
function tagVmid(tag: number): number {
  return Math.floor(tag / 65536) % 65536;
}
function tagAsid(tag: number): number {
  return tag % 65536;
}

interface TagSet {
  /** Leaf sizes present, as log2 of the leaf in 4 KiB frames (0 = 4 KiB). */
  orders: number[];
  maps: Map<number, TlbEntry>[];
}

export const TLB_CAPACITY = 1 << 16;

export class Tlb {
  private readonly tags = new Map<number, TagSet>();
  private count = 0;
  /** Totals for tests and the bench. */
  hits = 0;
  misses = 0;

  get size(): number {
    return this.count;
  }

  /** The entry covering input frame `frame` and the frame's offset in it, or undefined. */
  lookup(tag: number, frame: number): { entry: TlbEntry; offset: number } | undefined {
    const t = this.tags.get(tag);
    if (t) {
      for (let k = 0; k < t.orders.length; k++) {
        const span = 2 ** t.orders[k];
        const base = frame - (frame % span);
        const e = t.maps[k].get(base);
        if (e) {
          this.hits++;
          return { entry: e, offset: frame - base };
        }
      }
    }
    this.misses++;
    return undefined;
  }

  /** Caches a leaf of 2^order frames starting at input frame `base`. */
  insert(tag: number, base: number, order: number, entry: TlbEntry): void {
    if (this.count >= TLB_CAPACITY) this.invalidateAll();
    let t = this.tags.get(tag);
    if (!t) {
      t = { orders: [], maps: [] };
      this.tags.set(tag, t);
    }
    let k = t.orders.indexOf(order);
    if (k < 0) {
      t.orders.push(order);
      t.maps.push(new Map());
      k = t.orders.length - 1;
    }
    if (!t.maps[k].has(base)) this.count++;
    t.maps[k].set(base, entry);
  }

  private dropTag(tag: number): void {
    const t = this.tags.get(tag);
    if (!t) return;
    for (const m of t.maps) this.count -= m.size;
    this.tags.delete(tag);
  }

  private dropWhere(pred: (tag: number) => boolean): void {
    for (const tag of [...this.tags.keys()]) if (pred(tag)) this.dropTag(tag);
  }

  /** Removes the entries of `tag` whose leaf overlaps input frames [first, first+frames). */
  private dropRange(tag: number, first: number, frames: number): void {
    const t = this.tags.get(tag);
    if (!t) return;
    const end = first + frames;
    for (let k = 0; k < t.orders.length; k++) {
      const span = 2 ** t.orders[k];
      const m = t.maps[k];
      const lo = first - (first % span);
      const probes = Math.ceil((end - lo) / span);
      if (probes <= m.size) {
        for (let b = lo; b < end; b += span) if (m.delete(b)) this.count--;
      } else {
        for (const b of [...m.keys()]) {
          if (b < end && b + span > first) {
            m.delete(b);
            this.count--;
          }
        }
      }
    }
  }

  invalidateAll(): void {
    this.tags.clear();
    this.count = 0;
  }

  /** TLBI_NH_ALL: every stage 1 (NH) entry of a VMID. */
  invalidateNhVmid(vmid: number): void {
    this.dropWhere((t) => tagKind(t) === KIND_NH && tagVmid(t) === vmid);
  }

  /** TLBI_NH_ASID. */
  invalidateAsid(vmid: number, asid: number): void {
    this.dropTag(nhTag(vmid, asid));
  }

  /** TLBI_NH_VA (asid given) or TLBI_NH_VAA (all ASIDs of the VMID). */
  invalidateVa(vmid: number, asid: number | null, first: number, frames: number): void {
    if (asid !== null) {
      this.dropRange(nhTag(vmid, asid), first, frames);
      return;
    }
    for (const tag of [...this.tags.keys()]) {
      if (tagKind(tag) === KIND_NH && tagVmid(tag) === vmid) this.dropRange(tag, first, frames);
    }
  }

  /** TLBI_S2_IPA: stage-2-only entries of a VMID. */
  invalidateIpa(vmid: number, first: number, frames: number): void {
    this.dropRange(s2Tag(vmid), first, frames);
  }

  /** TLBI_S12_VMALL: every entry of a VMID. */
  invalidateVmid(vmid: number): void {
    this.dropWhere((t) => tagVmid(t) === vmid);
  }

  /** Tags present (for tests: which contexts hold entries). */
  tagList(): { kind: 'nh' | 's2'; vmid: number; asid: number; entries: number }[] {
    return [...this.tags.entries()].map(([t, s]) => ({
      kind: tagKind(t) === KIND_NH ? 'nh' : 's2',
      vmid: tagVmid(t),
      asid: tagAsid(t),
      entries: s.maps.reduce((n, m) => n + m.size, 0),
    }));
  }
}
