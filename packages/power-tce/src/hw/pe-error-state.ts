import { IODA3_PESTA_MMIO_FROZEN, IODA3_PESTB_DMA_STOPPED } from './registers.js';

/** PEEV bit of a PE within its 64-bit word: PPC_BIT(pe & 63), as skiboot phb4_eeh_freeze_status tests it. */
export function peevBit(pe: number): bigint {
  return 1n << BigInt(63 - (pe & 63));
}

/**
 * The PHB's per-PE error state in the IODA3 on-chip tables: PESTA and PESTB (one entry per PE) and
 * the PEEV, the PE error vector (one bit per PE, 64 PEs per entry; QEMU pnv_phb4 ioda_PEEV).
 *
 * A DMA error freezes the PE: PESTA MMIO_FROZEN, PESTB DMA_STOPPED and the PE's PEEV bit. skiboot
 * reads the PEEV first and treats a clear bit as "not frozen" (phb4_eeh_freeze_status); its
 * freeze-clear path (phb4_eeh_freeze_clear) zeroes PESTA and PESTB only and then reads the PEEV to
 * see whether an error is still pending, so the hardware drops a PE's PEEV bit once neither freeze
 * bit of that PE is left. Firmware may also write PEEV entries directly (skiboot zeroes them at
 * init). DMA is stopped by PESTB alone.
 */
export class PeErrorState {
  readonly pesta: BigUint64Array;
  readonly pestb: BigUint64Array;
  readonly peev: BigUint64Array;
  /** PESTB DMA_STOPPED per PE, mirrored for the translation fast path. */
  readonly dmaStopped: Uint8Array;

  constructor(readonly numPes: number) {
    this.pesta = new BigUint64Array(numPes);
    this.pestb = new BigUint64Array(numPes);
    this.peev = new BigUint64Array(Math.max(1, numPes / 64));
    this.dmaStopped = new Uint8Array(numPes);
  }

  /** What the PHB does on a DMA error of the PE. */
  freeze(pe: number): void {
    this.pesta[pe] |= IODA3_PESTA_MMIO_FROZEN;
    this.pestb[pe] |= IODA3_PESTB_DMA_STOPPED;
    this.peev[pe >> 6] |= peevBit(pe);
    this.dmaStopped[pe] = 1;
  }

  /** A firmware write of PESTA (b = false) or PESTB (b = true) for `pe`. */
  writePest(b: boolean, pe: number, value: bigint): void {
    (b ? this.pestb : this.pesta)[pe] = value;
    this.dmaStopped[pe] = this.pestb[pe] & IODA3_PESTB_DMA_STOPPED ? 1 : 0;
    if (!(this.pesta[pe] & IODA3_PESTA_MMIO_FROZEN) && !this.dmaStopped[pe]) this.peev[pe >> 6] &= ~peevBit(pe);
  }

  /** Non-zero entries by their IODA table names, for the hardware view. */
  entries(out: Record<string, bigint>): void {
    for (let pe = 0; pe < this.numPes; pe++) {
      if (this.pesta[pe] !== 0n) out[`PESTA[${pe}]`] = this.pesta[pe];
      if (this.pestb[pe] !== 0n) out[`PESTB[${pe}]`] = this.pestb[pe];
    }
    for (let i = 0; i < this.peev.length; i++) if (this.peev[i] !== 0n) out[`PEEV[${i}]`] = this.peev[i];
  }
}
