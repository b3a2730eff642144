import { getFieldBig, setFieldBig } from '@ioasid/core';
import { FRCD_F, FRCD_FI, FRCD_FR, FRCD_PP, FRCD_PV, FRCD_SID, FRCD_T, FSTS_FRI, FSTS_ICE, FSTS_IQE, FSTS_ITE, FSTS_PFO, FSTS_PPF, FSTS_PRO, withField, reg } from './registers.js';

export interface PrimaryFault {
  sid: number;
  reason: number;
  /** Page address of the faulting request. */
  addr: bigint;
  write: boolean;
  pasid?: number;
}

/**
 * Primary fault logging: the FRCD registers (CAP.NFR + 1 of them at CAP.FRO) and the fault
 * status register. A fault goes to the next register in turn; if that one still holds an
 * unserviced fault (F = 1) the fault is dropped and FSTS.PFO set (VT-d 7.2.1, as QEMU vtd_report_frcd_fault).
 */
export class FaultRecording {
  /** Each register as [bits 63:0, bits 127:64]. */
  readonly frcd: bigint[][];
  private next = 0;
  /** FSTS bits other than PPF/FRI (PFO, IQE, ICE, ITE, PRO). */
  private status = 0n;
  private fri = 0;
  /** Registers with F = 1 (kept so the hot path can ask without decoding). */
  pendingCount = 0;

  constructor(readonly count: number) {
    this.frcd = Array.from({ length: count }, () => [0n, 0n]);
  }

  /** Records a fault; the register index, or -1 when it overflowed. */
  record(f: PrimaryFault): number {
    const i = this.next;
    const q = this.frcd[i];
    if (getFieldBig(q, FRCD_F) === 1n) {
      this.status = withField(this.status, FSTS_PFO, 1);
      return -1;
    }
    const wasPending = this.pending();
    const r = [0n, 0n];
    setFieldBig(r, FRCD_FI, f.addr >> 12n);
    setFieldBig(r, FRCD_SID, f.sid);
    if (f.pasid !== undefined) {
      setFieldBig(r, FRCD_PP, 1);
      setFieldBig(r, FRCD_PV, f.pasid);
    }
    setFieldBig(r, FRCD_FR, f.reason);
    setFieldBig(r, FRCD_T, f.write ? 0 : 1);
    setFieldBig(r, FRCD_F, 1);
    this.frcd[i] = r;
    this.pendingCount++;
    if (!wasPending) this.fri = i;
    this.next = (i + 1) % this.count;
    return i;
  }

  pending(): boolean {
    return this.pendingCount > 0;
  }

  /** Software writes 1 to F to release a register. */
  clear(i: number): void {
    if (getFieldBig(this.frcd[i], FRCD_F) === 0n) return;
    this.pendingCount--;
    this.frcd[i] = [this.frcd[i][0], this.frcd[i][1] & ~(1n << 63n)];
    if (this.pending() && getFieldBig(this.frcd[this.fri], FRCD_F) === 0n) {
      for (let k = 1; k <= this.count; k++) {
        const j = (this.fri + k) % this.count;
        if (getFieldBig(this.frcd[j], FRCD_F) === 1n) {
          this.fri = j;
          break;
        }
      }
    }
  }

  /** FSTS_REG as read. */
  fsts(): bigint {
    let v = this.status;
    if (this.pending()) {
      v = withField(v, FSTS_PPF, 1);
      v = withField(v, FSTS_FRI, this.fri);
    }
    return v;
  }

  setStatus(bit: typeof FSTS_IQE | typeof FSTS_PRO | typeof FSTS_ICE | typeof FSTS_ITE): void {
    this.status = withField(this.status, bit, 1);
  }

  hasStatus(bit: typeof FSTS_IQE | typeof FSTS_PFO): boolean {
    return reg(this.status, bit) === 1;
  }

  /** Software writes FSTS: PFO, IQE, ICE, ITE and PRO are write-1-to-clear. */
  writeFsts(v: bigint): void {
    for (const b of [FSTS_PFO, FSTS_IQE, FSTS_ICE, FSTS_ITE, FSTS_PRO]) if (reg(v, b)) this.status = withField(this.status, b, 0);
  }

  /**
   * Takes over the state a snapshot shows: each register's 128-bit value, and FSTS_REG's status
   * bits and FRI. The internal index of the next register to use is not architectural: the one
   * after the pending faults (they were recorded in turn from FRI), or 0 with none pending.
   */
  restore(frcd: readonly bigint[], fsts: bigint): void {
    const lo = (1n << 64n) - 1n;
    this.pendingCount = 0;
    frcd.forEach((v, i) => {
      this.frcd[i] = [v & lo, v >> 64n];
      if (getFieldBig(this.frcd[i], FRCD_F) === 1n) this.pendingCount++;
    });
    this.status = 0n;
    for (const b of [FSTS_PFO, FSTS_IQE, FSTS_ICE, FSTS_ITE, FSTS_PRO]) if (reg(fsts, b)) this.status = withField(this.status, b, 1);
    this.fri = this.pendingCount > 0 ? reg(fsts, FSTS_FRI) % this.count : 0;
    this.next = this.pendingCount > 0 ? (this.fri + this.pendingCount) % this.count : 0;
  }

  /** FRCD register i as one 128-bit value. */
  value(i: number): bigint {
    return (this.frcd[i][1] << 64n) | this.frcd[i][0];
  }
}
