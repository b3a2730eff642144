import type { CacheReadRecorder } from '@ioasid/core';

/**
 * The SMMU TLB. Entries are tagged like the architecture's: stage 1 (and combined stage 1+2)
 * entries by (VMID, ASID) — "NH" entries —, stage-2-only entries by VMID. An entry covers one
 * leaf of the combined translation (the smaller of the stage 1 and stage 2 leaves) and is found
 * by probing each leaf size present for its tag.
 *
 * As in hardware it is a bounded, set-associative array (TLB_SETS × TLB_WAYS entries, indexed by
 * input address bits), held in typed arrays: a fill writes an entry in place and a full set evicts
 * one of its ways (round robin), which any TLB may do. Otherwise only TLBI commands remove
 * entries: by address (looking up only the sets the range maps to, or sweeping the array when the
 * range has more pages than the tag has entries) or by context. A context's entries are found
 * through its slot: a context invalidation retires the slot's generation number, so every entry
 * filled under it stops matching at once, without a sweep of unrelated entries.
 */

const KIND_NH = 1;
const KIND_S2 = 2;

export function nhTag(vmid: number, asid: number): number {
  return KIND_NH * 2 ** 32 + vmid * 65536 + asid;
}

export function s2Tag(vmid: number): number {
  return KIND_S2 * 2 ** 32 + vmid * 65536;
}

/** The ASID argument of `Tlb.lookup` for stage-2-only entries, which have none. */
export const NO_ASID = -1;

/** The tag of context (vmid, asid): stage 1 entries of that ASID, or stage-2-only ones (NO_ASID). */
export function contextTag(vmid: number, asid: number): number {
  return asid === NO_ASID ? s2Tag(vmid) : nhTag(vmid, asid);
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

export const TLB_SETS = 4096;
/** Ways per set (a module-local constant, which the compiler folds; an export is read through a cell). */
const WAYS = 4;
export const TLB_WAYS = WAYS;
export const TLB_CAPACITY = TLB_SETS * TLB_WAYS;
const SET_MASK = TLB_SETS - 1;
/** Orders (log2 of a leaf in 4 KiB frames) run 0..18 (a 1 GiB block); an entry's key is base · 32 + order. */
const ORDER_SLOTS = 32;

/** 2^n for the orders a leaf can have. */
const SPAN: readonly number[] = Array.from({ length: ORDER_SLOTS }, (_, n) => 2 ** n);
/** 2^-n (exact): dividing by a span is a multiplication. */
const INV_SPAN: readonly number[] = SPAN.map((x) => 1 / x);

/** Doubles per entry: key (base · 32 + order, −1 when empty), generation, output frame, IPA frame. */
const STRIDE = 4;
const F_KEY = 0;
const F_GEN = 1;
const F_OUT = 2;
const F_IPA = 3;

/** 1 when the entry at `ent[j]` has key `k` and generation `g` (both compared, with no branch between them), else 0. */
function holds(ent: Float64Array, j: number, k: number, g: number): number {
  return +(ent[j + F_KEY] === k) & +(ent[j + F_GEN] === g);
}

export class Tlb {
  /** Context (tag) → its slot; insertion-ordered, like the contexts' first fills. */
  private readonly slots = new Map<number, number>();
  /** VMID → the contexts (tags) of that VMID, so a VMID-wide TLBI visits only its own. */
  private readonly byVmid = new Map<number, Set<number>>();
  /**
   * Current generation of each slot (−1 when free); an entry is live while its generation matches.
   * Slot 0 is reserved for empty entries (generation 0, which never matches its −1).
   */
  private slotGen: number[] = [-1];
  /** Live entries and leaf orders present (bit mask), per slot. */
  private slotCount: number[] = [0];
  private slotOrders: number[] = [0];
  private freeSlots: number[] = [];
  private nextGen = 1;
  /**
   * The context looked up last, as (VMID, ASID) (−2: none), and its slot: a tag is above 2^31, so
   * the hot path compares these small integers rather than handling the tag.
   */
  private lastVmid = -2;
  private lastAsid = -2;
  private lastSlot = -1;

  /** The entries, STRIDE doubles each, a set's ways side by side (allocated at the first fill). */
  private ent = new Float64Array(0);
  /** Per entry: slot · 64 + P_* permissions (slot 0: empty). */
  private meta = new Int32Array(0);
  /** Next victim way, per set. */
  private victim: Uint8Array = new Uint8Array(0);

  private count = 0;
  /** Totals for tests and the bench. */
  hits = 0;
  misses = 0;

  get size(): number {
    return this.count;
  }

  /** The slot of context (vmid, asid), or −1 when it has none. */
  private slot(vmid: number, asid: number): number {
    return vmid === this.lastVmid && asid === this.lastAsid ? this.lastSlot : this.slotOf(vmid, asid);
  }

  /** `slot` for a context other than the last one looked up (which it becomes). */
  private slotOf(vmid: number, asid: number): number {
    const s = this.slots.get(contextTag(vmid, asid));
    if (s === undefined) return -1;
    this.lastVmid = vmid;
    this.lastAsid = asid;
    this.lastSlot = s;
    return s;
  }

  private static setOf(base: number, order: number): number {
    // Input address bits above the leaf select the set (ToInt32 keeps the low 32 bits exactly).
    return ((order === 0 ? base : base * INV_SPAN[order]) ^ (order << 7)) & SET_MASK;
  }

  private live(i: number): boolean {
    return this.ent[i * STRIDE + F_GEN] === this.slotGen[this.meta[i] >> 6];
  }

  /**
   * The index of the entry of context (vmid, asid) (NO_ASID: stage-2-only entries) covering input
   * frame `frame`, or −1 (read it with entryBase/Out/Ipa/Perms).
   */
  lookup(vmid: number, asid: number, frame: number): number {
    const s = this.slot(vmid, asid);
    // A slot exists only once its context has been filled, so the entry array is allocated.
    const i = s < 0 ? -1 : this.find(frame, this.slotGen[s], this.slotOrders[s]);
    // Both counters are touched on every lookup (no branch that only hits or only misses take).
    this.hits += i >= 0 ? 1 : 0;
    this.misses += i >= 0 ? 0 : 1;
    return i;
  }

  /** The entry of generation `g` covering `frame`, probing each leaf size in `orders`, smallest first. */
  private find(frame: number, g: number, orders: number): number {
    if ((orders & 1) === 0) return this.findLarger(frame, g, orders);
    // A 4 KiB leaf's key and set need no rounding of the frame (as Tlb.setOf for order 0).
    const i = this.probe(frame * ORDER_SLOTS, frame & SET_MASK, g);
    return i >= 0 || orders === 1 ? i : this.findLarger(frame, g, orders);
  }

  /** `find` for the leaf sizes above 4 KiB in `orders`. */
  private findLarger(frame: number, g: number, orders: number): number {
    for (let order = 1, o = orders >>> 1; o !== 0; order++, o >>>= 1) {
      if ((o & 1) === 0) continue;
      const base = Math.floor(frame * INV_SPAN[order]) * SPAN[order];
      const i = this.probe(base * ORDER_SLOTS + order, Tlb.setOf(base, order), g);
      if (i >= 0) return i;
    }
    return -1;
  }

  /** The way of `set` holding key `k` under generation `g`, or −1: the WAYS (4) ways in order. */
  private probe(k: number, set: number, g: number): number {
    const ent = this.ent;
    const w = set * WAYS;
    const j = w * STRIDE;
    // Every way is compared at once, as a set's ways are: nothing branches on which way matched
    // (a branch that mispredicted on most hits); the lowest matching way wins, as in a way-by-way probe.
    const match = holds(ent, j, k, g) | (holds(ent, j + STRIDE, k, g) << 1) | (holds(ent, j + 2 * STRIDE, k, g) << 2) | (holds(ent, j + 3 * STRIDE, k, g) << 3);
    return match === 0 ? -1 : w + 31 - Math.clz32(match & -match);
  }

  /**
   * The entry `lookup` would find, without counting it or touching the lookup memo: what a
   * traced walk probes (it must leave the TLB exactly as it was). `rec` is told each double a
   * hit reads: the key and generation of every way compared, and a hit's output frame (its
   * permissions are in `meta`, not a double).
   */
  peek(tag: number, frame: number, rec?: CacheReadRecorder): number {
    const s = this.slots.get(tag);
    if (s === undefined || this.ent.length === 0) return -1;
    const g = this.slotGen[s];
    let orders = this.slotOrders[s];
    for (let order = 0; orders !== 0; order++, orders >>>= 1) {
      if ((orders & 1) === 0) continue;
      const base = order === 0 ? frame : Math.floor(frame * INV_SPAN[order]) * SPAN[order];
      const i = this.probeReported(base * ORDER_SLOTS + order, Tlb.setOf(base, order), g, rec);
      if (i >= 0) return i;
    }
    return -1;
  }

  /** `probe`, telling `rec` each double it reads. */
  private probeReported(k: number, set: number, g: number, rec: CacheReadRecorder | undefined): number {
    const ent = this.ent;
    let found = -1;
    for (let w = set * TLB_WAYS; w < (set + 1) * TLB_WAYS; w++) {
      rec?.cacheRead(ent, w * STRIDE + F_KEY, 2);
      if (found < 0 && holds(ent, w * STRIDE, k, g) !== 0) found = w;
    }
    if (found >= 0) rec?.cacheRead(ent, found * STRIDE + F_OUT, 1);
    return found;
  }

  /** Output frame of input frame `frame` through entry `i` (which covers it). */
  outFor(i: number, frame: number): number {
    const j = i * STRIDE;
    const key = this.ent[j + F_KEY];
    // A 4 KiB leaf's key is its frame · ORDER_SLOTS: the frame translates to the entry's output.
    return key === frame * ORDER_SLOTS ? this.ent[j + F_OUT] : this.entryOut(i) + (frame - this.entryBase(i));
  }

  /** First input frame, output frame, IPA frame and P_* permissions of entry `i`. */
  entryBase(i: number): number {
    return Math.floor(this.ent[i * STRIDE + F_KEY] * (1 / ORDER_SLOTS));
  }
  entryOut(i: number): number {
    return this.ent[i * STRIDE + F_OUT];
  }
  entryIpa(i: number): number {
    return this.ent[i * STRIDE + F_IPA];
  }
  entryPerms(i: number): number {
    return this.meta[i] & 63;
  }
  /** log2 of entry `i`'s size in 4 KiB frames. */
  entryOrder(i: number): number {
    return this.ent[i * STRIDE + F_KEY] % ORDER_SLOTS;
  }

  private allocate(): void {
    const ent = new Float64Array(TLB_CAPACITY * STRIDE);
    for (let i = 0; i < TLB_CAPACITY; i++) ent[i * STRIDE + F_KEY] = -1;
    this.ent = ent;
    this.meta = new Int32Array(TLB_CAPACITY);
    this.victim = new Uint8Array(TLB_SETS);
  }

  private newSlot(tag: number): number {
    const s = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slotGen.length;
    this.slotGen[s] = this.nextGen++;
    this.slotCount[s] = 0;
    this.slotOrders[s] = 0;
    this.slots.set(tag, s);
    const v = tagVmid(tag);
    let set = this.byVmid.get(v);
    if (!set) {
      set = new Set();
      this.byVmid.set(v, set);
    }
    set.add(tag);
    return s;
  }

  /** Caches a leaf of 2^order frames starting at input frame `base` (frames are 4 KiB frame numbers); returns its index. */
  insert(tag: number, order: number, base: number, out: number, ipa: number, perms: number): number {
    if (this.ent.length === 0) this.allocate();
    const ent = this.ent;
    const s = this.slots.get(tag) ?? this.newSlot(tag);
    const g = this.slotGen[s];
    const k = base * ORDER_SLOTS + order;
    const set = Tlb.setOf(base, order);
    const first = set * TLB_WAYS;
    // A fill follows a miss, so no live entry holds this leaf. Replacement: the set's round-robin
    // victim if it is free, else the next free way, else the victim is evicted.
    const v = this.victim[set];
    this.victim[set] = (v + 1) % TLB_WAYS;
    let at = first + v;
    if (this.live(at)) {
      for (let w = 1; w < TLB_WAYS; w++) {
        const i = first + ((v + w) % TLB_WAYS);
        if (!this.live(i)) {
          at = i;
          break;
        }
      }
      if (this.live(at)) {
        this.slotCount[this.meta[at] >> 6]--;
        this.count--;
      }
    }
    const j = at * STRIDE;
    ent[j + F_KEY] = k;
    ent[j + F_GEN] = g;
    ent[j + F_OUT] = out;
    ent[j + F_IPA] = ipa;
    this.meta[at] = (s << 6) | perms;
    this.slotOrders[s] |= 1 << order;
    this.slotCount[s]++;
    this.count++;
    return at;
  }

  /**
   * Every entry of a context: the slot's generation is retired, so none of them matches any more
   * (the slot stays, under a fresh generation, for the context's next fills).
   */
  private dropTag(tag: number): void {
    const s = this.slots.get(tag);
    if (s === undefined) return;
    this.count -= this.slotCount[s];
    this.slotGen[s] = this.nextGen++;
    this.slotCount[s] = 0;
    this.slotOrders[s] = 0;
  }

  /** Drops every context of `vmid` that `pred` selects (only that VMID's contexts are visited). */
  private dropVmid(vmid: number, pred: (tag: number) => boolean): void {
    const tags = this.byVmid.get(vmid);
    if (tags) for (const tag of tags) if (pred(tag)) this.dropTag(tag);
  }

  private kill(i: number, s: number): void {
    this.ent[i * STRIDE + F_KEY] = -1;
    this.ent[i * STRIDE + F_GEN] = 0;
    this.meta[i] = 0;
    this.slotCount[s]--;
    this.count--;
  }

  /**
   * Drops live entry `i` (the unit itself discarding what it cached, as before re-walking for a
   * write that a read-filled entry cannot grant: a writable-clean leaf with dirty state managed).
   */
  evict(i: number): void {
    if (i >= 0 && this.live(i)) this.kill(i, this.meta[i] >> 6);
  }

  /** Removes the entries of `tag` whose leaf overlaps input frames [first, first+frames). */
  private dropRange(tag: number, first: number, frames: number): void {
    const s = this.slots.get(tag);
    if (s === undefined || this.slotCount[s] === 0) return;
    const ent = this.ent;
    const g = this.slotGen[s];
    const end = first + frames;
    for (let order = 0; order < ORDER_SLOTS; order++) {
      if ((this.slotOrders[s] & (1 << order)) === 0) continue;
      const span = SPAN[order];
      const lo = Math.floor(first * INV_SPAN[order]) * span;
      const probes = Math.ceil((end - lo) / span);
      if (probes <= this.slotCount[s]) {
        // Look up only the sets the range maps to.
        for (let b = lo; b < end; b += span) {
          const k = b * ORDER_SLOTS + order;
          const f = Tlb.setOf(b, order) * TLB_WAYS;
          for (let i = f; i < f + TLB_WAYS; i++) if (ent[i * STRIDE + F_KEY] === k && ent[i * STRIDE + F_GEN] === g) this.kill(i, s);
        }
      } else {
        // More pages than entries of this context: one sweep of the (bounded) array.
        for (let i = 0; i < TLB_CAPACITY && this.slotCount[s] > 0; i++) {
          const k = ent[i * STRIDE + F_KEY];
          if (ent[i * STRIDE + F_GEN] !== g || k < 0 || k % ORDER_SLOTS !== order) continue;
          const b = (k - order) / ORDER_SLOTS;
          if (b < end && b + span > first) this.kill(i, s);
        }
      }
    }
  }

  invalidateAll(): void {
    // Every slot is freed; entries keep generations no slot will have again.
    for (const s of this.slots.values()) {
      this.slotGen[s] = -1;
      this.slotCount[s] = 0;
      this.slotOrders[s] = 0;
      this.freeSlots.push(s);
    }
    this.slots.clear();
    this.byVmid.clear();
    this.lastVmid = -2;
    this.lastAsid = -2;
    this.lastSlot = -1;
    this.count = 0;
  }

  /** TLBI_NH_ALL: every stage 1 (NH) entry of a VMID. */
  invalidateNhVmid(vmid: number): void {
    this.dropVmid(vmid, (t) => tagKind(t) === KIND_NH);
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
    for (const tag of this.byVmid.get(vmid) ?? []) if (tagKind(tag) === KIND_NH) this.dropRange(tag, first, frames);
  }

  /** TLBI_S2_IPA: stage-2-only entries of a VMID. */
  invalidateIpa(vmid: number, first: number, frames: number): void {
    this.dropRange(s2Tag(vmid), first, frames);
  }

  /** TLBI_S12_VMALL: every entry of a VMID. */
  invalidateVmid(vmid: number): void {
    this.dropVmid(vmid, () => true);
  }

  /** Contexts holding entries (for tests), in the order of their first fill since the last TLBI_NSNH_ALL. */
  tagList(): { kind: 'nh' | 's2'; vmid: number; asid: number; entries: number }[] {
    return [...this.slots.entries()]
      .filter(([, s]) => this.slotCount[s] > 0)
      .map(([t, s]) => ({
        kind: tagKind(t) === KIND_NH ? ('nh' as const) : ('s2' as const),
        vmid: tagVmid(t),
        asid: tagAsid(t),
        entries: this.slotCount[s],
      }));
  }
}
