import { PROT_READ, RadixPageTable, contiguousRuns, type HostMemory } from '@ioasid/core';
import { svFormat } from './formats/sv.js';
import { KernelDirectory } from './kernel-directory.js';
import { PC_BYTES, PDI_WIDTHS } from './tables/process-context.js';
import type { PdMode, SvMode } from './tables/atp.js';

/** The G-stage a window copies: its table's root (a 'map' IOASID). */
export interface WindowParent {
  readonly pt: { readonly root: number };
}

/** Root entries of an Svx4 root (2^11). */
export const SVX4_ROOT_ENTRIES = 2048;

/**
 * The root entry kept for PDT windows: the last one whose GPAs a 44-bit PPN can still point at
 * (pdtp.PPN and PDT entries hold GPAs of at most 56 bits: below 2^56 even for Sv57x4).
 */
export function windowSlot(mode: SvMode): number {
  const slotShift = mode + 2 - 11;
  return Math.min(SVX4_ROOT_ENTRIES, 2 ** (56 - slotShift)) - 1;
}

/** The GPA range [start, last] of the window slot. */
export function windowRange(mode: SvMode): { start: bigint; last: bigint } {
  const span = 1n << BigInt(mode + 2 - 11);
  const start = BigInt(windowSlot(mode)) * span;
  return { start, last: start + span - 1n };
}

/**
 * A kernel-owned PDT for a device whose DC has a G-stage. The spec (§2.3.2) walks pdtp and every
 * PDT entry as GPAs through DC.iohgatp, so the kernel's PDT must be reachable in guest-physical
 * space. The driver gives such a device a G-stage root of its own: root entries 0..2046 copy the
 * parent's (sharing every table below) but one — the window slot, the last root entry below 2^56,
 * outside every permitted range — which maps the PDT pages read-only, each at a window GPA. The copy has its
 * own GSCID, so no other device's IOTLB entries can come from it.
 */
export class PdtWindow {
  readonly table: RadixPageTable;
  readonly dir: KernelDirectory;
  private readonly gpaOf = new Map<number, number>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly base: number;
  private readonly slot: number;

  private constructor(
    private readonly mem: HostMemory,
    readonly parent: WindowParent,
    readonly gscid: number,
    mode: SvMode,
    levels: number,
  ) {
    this.table = RadixPageTable.create(mem, svFormat(mode, true));
    this.slot = windowSlot(mode);
    this.base = this.slot * 2 ** (mode + 2 - 11 - 12);
    try {
      this.dir = KernelDirectory.create(mem, PDI_WIDTHS.slice(0, levels), PC_BYTES, {
        added: (f) => this.add(f),
        removed: (f) => this.remove(f),
        pointer: (f) => this.gpaOf.get(f)!,
      });
    } catch (e) {
      this.table.destroy();
      throw e;
    }
    this.sync();
  }

  static create(mem: HostMemory, parent: WindowParent, gscid: number, mode: SvMode, levels: number): PdtWindow {
    return new PdtWindow(mem, parent, gscid, mode, levels);
  }

  /** The PDT mode of the directory (by its levels). */
  get mode(): PdMode {
    return this.dir.levels === 1 ? 'PD8' : this.dir.levels === 2 ? 'PD17' : 'PD20';
  }

  /** The first GPA of the window. */
  get windowBase(): bigint {
    return BigInt(this.base) << 12n;
  }

  private add(frame: number): void {
    const slot = this.freeSlots.pop() ?? this.nextSlot;
    this.table.map(this.base + slot, 1, contiguousRuns(frame, 1), PROT_READ); // may throw ENOMEM: nothing kept
    if (slot === this.nextSlot) this.nextSlot++;
    this.gpaOf.set(frame, this.base + slot);
  }

  private remove(frame: number): void {
    const gfn = this.gpaOf.get(frame);
    if (gfn === undefined) return;
    this.table.unmap(gfn, 1);
    this.gpaOf.delete(frame);
    this.freeSlots.push(gfn - this.base);
  }

  /** Copies the parent's root entries but the window slot's (after the parent's map or unmap changed one). */
  sync(): void {
    this.copyRoot(false);
  }

  /** Every root entry but the window slot's (512 per frame of the 16 KiB root), copied from the parent or zeroed. */
  private copyRoot(clear: boolean): void {
    for (let k = 0; k < 4; k++) {
      const src = this.mem.wordsForRead(this.parent.pt.root + k);
      const sb = this.mem.wordBase(this.parent.pt.root + k);
      const dst = this.mem.wordsForWrite(this.table.root + k);
      const db = this.mem.wordBase(this.table.root + k);
      for (let e = 0; e < 512; e++) {
        if (k * 512 + e === this.slot) continue;
        dst[db + 2 * e] = clear ? 0 : src[sb + 2 * e];
        dst[db + 2 * e + 1] = clear ? 0 : src[sb + 2 * e + 1];
      }
    }
  }

  destroy(): void {
    // The copied entries point at the parent's tables: cleared before the window frees its own.
    this.copyRoot(true);
    this.dir.destroy();
    this.table.destroy();
  }
}
