import type { DmaMapping } from '../rules/dma-map.js';
import type { VmmMemory } from '../memory/vmm.js';
import { PAGE_SHIFT } from '../memory/host-memory.js';
import type { IommuDomain } from '../driver/driver.js';
import { DirtyLog } from '../pgtable/dirty-log.js';

/** What software nesting reads and drives of an address space (the fd's IOASID object). */
export interface NestedSpace {
  readonly domain: Pick<IommuDomain, 'map' | 'unmap' | 'readDirty'>;
  readonly maps: { all(): readonly DmaMapping[]; intersecting(iova: bigint, size: bigint): DmaMapping[] };
  readonly parent: NestedSpace | undefined;
  readonly children: Iterable<NestedSpace>;
  readonly isSoftwareChild: boolean;
}

/** A piece of the shadow table: child IOVA range → the parent map it was composed with. */
export interface ShadowPiece {
  iova: bigint;
  size: bigint;
  /** Parent IOVA (GPA) the piece starts at. */
  gpa: bigint;
}

/**
 * Software nesting (proposal §5.3): the kernel composes child (gIOVA → GPA) and parent
 * (GPA → host) maps into a shadow table in the hardware's own format, through any driver's
 * map/unmap. It keeps both levels' metadata and updates only the pieces a change touches.
 */
export class SoftwareNesting {
  constructor(private readonly vmm: VmmMemory) {}

  private mapPiece(child: NestedSpace, m: DmaMapping, p: DmaMapping, out: ShadowPiece[]): void {
    const s = m.vaddr > p.iova ? m.vaddr : p.iova;
    const e = m.vaddr + m.size < p.iova + p.size ? m.vaddr + m.size : p.iova + p.size;
    if (s >= e) return;
    const prot = m.prot & p.prot;
    if (prot === 0) return;
    const giova = m.iova + (s - m.vaddr);
    const hostVaddr = p.vaddr + (s - p.iova);
    const region = this.vmm.region(hostVaddr, e - s);
    const first = Number((hostVaddr - region.vaddr) >> BigInt(PAGE_SHIFT));
    child.domain.map(giova, e - s, region.runs(first), prot);
    out.push({ iova: giova, size: e - s, gpa: s });
  }

  private unmapPieces(child: NestedSpace, pieces: ShadowPiece[]): void {
    for (const piece of pieces) child.domain.unmap(piece.iova, piece.size);
  }

  /** A new child map: shadow it over whatever the parent maps today. All or nothing. */
  childMapped(child: NestedSpace, m: DmaMapping): void {
    const parent = child.parent!;
    const pieces: ShadowPiece[] = [];
    try {
      for (const p of parent.maps.intersecting(m.vaddr, m.size)) this.mapPiece(child, m, p, pieces);
    } catch (e) {
      this.unmapPieces(child, pieces);
      throw e;
    }
    m.pieces = pieces;
  }

  childUnmapping(child: NestedSpace, m: DmaMapping): void {
    this.unmapPieces(child, (m.pieces as ShadowPiece[]) ?? []);
    m.pieces = [];
  }

  /** A new parent map: extend every software child's shadow where its maps point into it. */
  parentMapped(parent: NestedSpace, p: DmaMapping): void {
    const done: [NestedSpace, DmaMapping, ShadowPiece[]][] = [];
    try {
      for (const child of parent.children) {
        if (!child.isSoftwareChild) continue;
        for (const m of child.maps.all()) {
          if (m.vaddr >= p.iova + p.size || m.vaddr + m.size <= p.iova) continue;
          const added: ShadowPiece[] = [];
          done.push([child, m, added]);
          this.mapPiece(child, m, p, added);
        }
      }
    } catch (e) {
      for (const [child, , added] of done) this.unmapPieces(child, added);
      throw e;
    }
    for (const [, m, added] of done) (m.pieces as ShadowPiece[]).push(...added);
  }

  /**
   * Dirty tracking through a software child: the hardware logs writes in the shadow's leaves
   * (child IOVAs), and each one dirties the parent range the piece was composed from. Harvests
   * the shadow pieces that meet the parent range of `log` and marks their parent frames there;
   * with `clear`, the shadow's dirty state is cleared (the driver flushes what it cleared).
   */
  harvestShadow(child: NestedSpace, log: DirtyLog, clear: boolean): void {
    const readDirty = child.domain.readDirty;
    if (!readDirty) return;
    for (const m of child.maps.all()) {
      for (const p of (m.pieces as ShadowPiece[] | undefined) ?? []) {
        const gpa = Number(p.gpa >> BigInt(PAGE_SHIFT));
        const frames = Number(p.size >> BigInt(PAGE_SHIFT));
        const s = Math.max(gpa, log.first);
        const e = Math.min(gpa + frames, log.end);
        if (s >= e) continue;
        const iova = Number(p.iova >> BigInt(PAGE_SHIFT));
        const shadow = new DirtyLog(iova + (s - gpa), e - s);
        readDirty.call(child.domain, shadow, clear);
        for (let k = 0; k < shadow.runs.length; k += 2) {
          // A shadow leaf never crosses its piece (each piece is mapped on its own); clip anyway.
          const from = Math.max(shadow.runs[k], iova);
          const to = Math.min(shadow.runs[k + 1], iova + frames);
          if (from < to) log.mark(gpa + (from - iova), to - from);
        }
      }
    }
  }

  /** A parent map goes away: drop the shadow pieces composed with it. */
  parentUnmapping(parent: NestedSpace, p: DmaMapping): void {
    for (const child of parent.children) {
      if (!child.isSoftwareChild) continue;
      for (const m of child.maps.all()) {
        const pieces = (m.pieces as ShadowPiece[]) ?? [];
        const gone = pieces.filter((x) => x.gpa >= p.iova && x.gpa < p.iova + p.size);
        if (gone.length === 0) continue;
        this.unmapPieces(child, gone);
        m.pieces = pieces.filter((x) => !gone.includes(x));
      }
    }
  }
}
