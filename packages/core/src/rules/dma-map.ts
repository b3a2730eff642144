import { fail } from '../base/errors.js';
import { hex } from '../base/args.js';

/** One MAP_DMA as the user made it (the proposal's `dma_list` metadata). */
export interface DmaMapping {
  iova: bigint;
  size: bigint;
  /** VMM vaddr, or the parent's IOVA for a software-nested child. */
  vaddr: bigint;
  prot: number;
  /** Pages charged to the locked-memory limit by this map (0 when pre-registered). */
  chargedPages: number;
  /** Software nesting: the shadow pieces this child map produced, keyed by their IOVA. */
  pieces?: { iova: bigint; size: bigint; gpa: bigint }[];
}

/**
 * The maps of one IOASID, ordered by IOVA (VFIO type1v2 rules). Lookups are binary searches,
 * so the cost of a map or unmap does not grow with what else is mapped.
 */
export class DmaMapList {
  private readonly maps: DmaMapping[] = [];

  get size(): number {
    return this.maps.length;
  }

  all(): readonly DmaMapping[] {
    return this.maps;
  }

  /** Index of the first map whose end is above `iova`. */
  private firstEndingAfter(iova: bigint): number {
    let lo = 0;
    let hi = this.maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.maps[mid];
      if (m.iova + m.size <= iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Maps intersecting [iova, iova+size). */
  intersecting(iova: bigint, size: bigint): DmaMapping[] {
    const out: DmaMapping[] = [];
    const end = iova + size;
    for (let i = this.firstEndingAfter(iova); i < this.maps.length && this.maps[i].iova < end; i++) out.push(this.maps[i]);
    return out;
  }

  checkFree(iova: bigint, size: bigint): void {
    const hit = this.intersecting(iova, size);
    if (hit.length > 0) {
      fail('EEXIST', `iova range ${hex(iova)}+${hex(size)} overlaps the existing map ${hex(hit[0].iova)}+${hex(hit[0].size)}`);
    }
  }

  /** The maps an unmap of [iova, iova+size) removes; EINVAL if it would cut one (type1v2). */
  wholeMapsIn(iova: bigint, size: bigint): DmaMapping[] {
    const hit = this.intersecting(iova, size);
    for (const m of hit) {
      if (m.iova < iova || m.iova + m.size > iova + size) {
        fail('EINVAL', `unmap of ${hex(iova)}+${hex(size)} would cut the map ${hex(m.iova)}+${hex(m.size)}; unmap whole maps only`);
      }
    }
    return hit;
  }

  insert(m: DmaMapping): void {
    this.maps.splice(this.firstEndingAfter(m.iova), 0, m);
  }

  remove(m: DmaMapping): void {
    const i = this.maps.indexOf(m, this.firstEndingAfter(m.iova));
    if (i >= 0) this.maps.splice(i, 1);
  }

  clear(): void {
    this.maps.length = 0;
  }
}
