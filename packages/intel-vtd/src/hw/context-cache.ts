/**
 * Context cache: scalable-mode context entries by requester ID, filled by walks of present
 * entries only (CAP.CM = 0) and cleared only by context-cache invalidation descriptors.
 */
export interface ContextCacheEntry {
  /** The four qwords as read. */
  raw: bigint[];
  fpd: boolean;
  dte: boolean;
  /** PASIDE: requests with PASID are allowed. */
  paside: boolean;
  pre: boolean;
  pdts: number;
  /** PASID directory byte address. */
  pasidDir: number;
  ridPasid: number;
  /** RID_PRIV: requests without PASID are treated as privileged. */
  ridPriv: boolean;
}

/** Function-mask bits of the source-id a device-selective invalidation ignores (FM 0–3). */
const FM_MASK = [0, 0x4, 0x6, 0x7];

export class ContextCache {
  private readonly entries = new Map<number, ContextCacheEntry>();
  /**
   * The entry last looked up, a shortcut into `entries` (not a second cache: it is always one of
   * them, and forgotten whenever any entry leaves).
   */
  private lastRid = -1;
  private last: ContextCacheEntry | undefined = undefined;

  get(rid: number): ContextCacheEntry | undefined {
    if (rid === this.lastRid) return this.last;
    const e = this.entries.get(rid);
    if (e !== undefined) {
      this.lastRid = rid;
      this.last = e;
    }
    return e;
  }

  /** The entry for `rid` without touching the look-up shortcut (a debugger's look). */
  peek(rid: number): ContextCacheEntry | undefined {
    return this.entries.get(rid);
  }

  fill(rid: number, e: ContextCacheEntry): void {
    this.entries.set(rid, e);
    if (rid === this.lastRid) this.last = e;
  }

  get size(): number {
    return this.entries.size;
  }

  invalidateAll(): void {
    this.entries.clear();
    this.forgetLast();
  }

  invalidateDevice(sid: number, fm: number): void {
    const mask = ~FM_MASK[fm & 3];
    for (const rid of [...this.entries.keys()]) if ((rid & mask) === (sid & mask)) this.entries.delete(rid);
    this.forgetLast();
  }

  private forgetLast(): void {
    this.lastRid = -1;
    this.last = undefined;
  }
}
