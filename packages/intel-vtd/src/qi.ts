import { fail, type HostMemory } from '@ioasid/core';
import { withField, IQA_DW, IQA_IQA, IQA_QS, IQH_QH, IQT_QT, FSTS_IQE, reg, regBig } from './hw/registers.js';
import type { VtdUnit } from './hw/unit.js';
import { encodeInvDescWords, INV_DESC_BYTES, QI_DONE, QI_IN_USE, type InvDesc } from './tables/inv-desc.js';
import { checkHostPointer } from './host-address.js';

/** Queue size as Linux sets it: 2 pages of 256-bit descriptors (QS = 1, DW = 1), 256 slots. */
const QS = 1;
const SLOTS = (4096 << QS) / INV_DESC_BYTES;
/** Descriptors kept in the history trace (the newest; older ones are dropped in batches). */
const HISTORY_MAX = 4096;

/**
 * The kernel side of queued invalidation (Linux dmar.c qi_submit_sync): descriptors are written
 * into the queue in host memory, followed by a wait descriptor whose status write tells the
 * driver the batch is done, then the tail register is moved.
 */
export class QueuedInvalidation {
  readonly base: number;
  private readonly status: number;
  private tail = 0;
  /** Descriptors submitted, oldest first: a bounded trace (the last few thousand) for debugging and tests. */
  readonly history: InvDesc[] = [];
  /** The wait descriptor every batch ends with (its status address never changes). */
  private readonly wait: InvDesc;
  /** One descriptor's words while it is written. */
  private readonly words = new Uint32Array(INV_DESC_BYTES / 4);

  constructor(
    private readonly host: HostMemory,
    private readonly unit: VtdUnit,
  ) {
    this.base = host.allocFrames(1 << QS, 1 << QS);
    let status = -1;
    try {
      checkHostPointer(this.base, 1 << QS, unit.haw, 'invalidation queue (IQA_REG.IQA)');
      status = host.allocFrame();
      checkHostPointer(status, 1, unit.haw, 'invalidation wait status (STATUS_ADDR)');
    } catch (e) {
      if (status >= 0) host.freeFrame(status);
      host.freeFrames(this.base, 1 << QS);
      throw e;
    }
    this.status = status;
    let iqa = withField(0n, IQA_IQA, this.base);
    iqa = withField(iqa, IQA_DW, 1);
    iqa = withField(iqa, IQA_QS, QS);
    unit.write('IQA_REG', iqa);
    this.wait = { type: 'wait', sw: true, fn: true, iflag: false, pd: false, statusData: QI_DONE, statusAddr: BigInt(this.status) * 4096n };
  }

  get iqaValue(): bigint {
    return withField(withField(withField(0n, IQA_IQA, this.base), IQA_DW, 1), IQA_QS, QS);
  }

  /**
   * Submits descriptors and waits for their completion: as qi_submit_sync, the wait descriptor's
   * status word is polled, and FSTS is read only when it does not say done. A descriptor the unit
   * rejects fails the submission with EINVAL, as qi_submit_sync returns -EINVAL.
   */
  submit(descs: readonly InvDesc[]): void {
    const statusPa = this.status * 4096;
    for (let i = 0; i < descs.length; i += SLOTS - 2) {
      const end = Math.min(descs.length, i + SLOTS - 2);
      const first = this.tail;
      this.writeWord(statusPa, QI_IN_USE);
      for (let k = i; k < end; k++) this.put(descs[k]);
      const waitSlot = this.tail;
      this.put(this.wait);
      this.unit.write('IQT_REG', withField(0n, IQT_QT, (this.tail * INV_DESC_BYTES) >> 4));
      if (this.host.u32(statusPa) !== QI_DONE) this.checkFault(first, waitSlot);
    }
  }

  /**
   * The unit stopped before the wait descriptor (Linux qi_check_fault). With FSTS.IQE set, IQH
   * points at the descriptor it rejected: one of this batch is overwritten with the batch's wait
   * descriptor and IQE is cleared, so the unit runs the rest of the queue (again, for each bad
   * descriptor after it) and the queue is empty once more; the submission then fails with EINVAL.
   * Only IoasidError leaves the driver.
   */
  private checkFault(first: number, waitSlot: number): never {
    let bad: { slot: number; q: bigint[] } | null = null;
    while (reg(this.unit.read('FSTS_REG'), FSTS_IQE)) {
      const head = Number(regBig(this.unit.read('IQH_REG'), IQH_QH) << 4n) / INV_DESC_BYTES;
      const inBatch = (head - first + SLOTS) % SLOTS <= (waitSlot - first + SLOTS) % SLOTS;
      if (!inBatch) fail('EFAULT', `invalidation queue error (FSTS.IQE) at slot ${head}, outside the batch submitted`);
      bad ??= { slot: head, q: this.readSlot(head) };
      this.writeSlot(head, this.wait);
      this.unit.write('FSTS_REG', withField(0n, FSTS_IQE, 1));
    }
    if (bad === null) fail('EFAULT', 'invalidation queue: the unit stopped before the wait descriptor without an error');
    fail('EINVAL', `invalidation queue error (FSTS.IQE): the unit rejected descriptor ${bad.slot} (qw0 = 0x${bad.q[0].toString(16)}, qw1 = 0x${bad.q[1].toString(16)})`);
  }

  private put(d: InvDesc): void {
    this.writeSlot(this.tail, d);
    const h = this.history;
    h.push(d);
    if (h.length >= 2 * HISTORY_MAX) h.splice(0, h.length - HISTORY_MAX);
    this.tail = (this.tail + 1) % SLOTS;
  }

  private writeSlot(slot: number, d: InvDesc): void {
    const w = this.words;
    encodeInvDescWords(d, w);
    const pa = this.base * 4096 + slot * INV_DESC_BYTES;
    const frame = Math.floor(pa / 4096);
    this.host.wordsForWrite(frame).set(w, this.host.wordBase(frame) + ((pa % 4096) >>> 2));
  }

  /** The first two qwords of a slot (the rest are reserved; Linux prints only these). */
  private readSlot(slot: number): bigint[] {
    const pa = this.base * 4096 + slot * INV_DESC_BYTES;
    return [this.host.u64(pa), this.host.u64(pa + 8)];
  }

  private writeWord(pa: number, v: number): void {
    const frame = Math.floor(pa / 4096);
    this.host.wordsForWrite(frame)[this.host.wordBase(frame) + ((pa % 4096) >>> 2)] = v >>> 0;
  }

  destroy(): void {
    this.host.freeFrames(this.base, 1 << QS);
    this.host.freeFrame(this.status);
  }
}
