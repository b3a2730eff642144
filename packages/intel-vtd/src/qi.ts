import { fail, type HostMemory } from '@ioasid/core';
import { withField, IQA_DW, IQA_IQA, IQA_QS, IQT_QT, FSTS_IQE, reg } from './hw/registers.js';
import type { VtdUnit } from './hw/unit.js';
import { encodeInvDesc, INV_DESC_BYTES, QI_DONE, QI_IN_USE, type InvDesc } from './tables/inv-desc.js';
import { writeQwords } from './tables/qwords.js';

/** Queue size as Linux sets it: 2 pages of 256-bit descriptors (QS = 1, DW = 1), 256 slots. */
const QS = 1;
const SLOTS = (4096 << QS) / INV_DESC_BYTES;

/**
 * The kernel side of queued invalidation (Linux dmar.c qi_submit_sync): descriptors are written
 * into the queue in host memory, followed by a wait descriptor whose status write tells the
 * driver the batch is done, then the tail register is moved.
 */
export class QueuedInvalidation {
  readonly base: number;
  private readonly status: number;
  private tail = 0;
  /** Every descriptor submitted, oldest first (a trace for debugging and tests). */
  readonly history: InvDesc[] = [];

  constructor(
    private readonly host: HostMemory,
    private readonly unit: VtdUnit,
  ) {
    this.base = host.allocFrames(1 << QS, 1 << QS);
    try {
      this.status = host.allocFrame();
    } catch (e) {
      host.freeFrames(this.base, 1 << QS);
      throw e;
    }
    let iqa = withField(0n, IQA_IQA, this.base);
    iqa = withField(iqa, IQA_DW, 1);
    iqa = withField(iqa, IQA_QS, QS);
    unit.writeIqa(iqa);
  }

  get iqaValue(): bigint {
    return withField(withField(withField(0n, IQA_IQA, this.base), IQA_DW, 1), IQA_QS, QS);
  }

  /** Submits descriptors and waits for their completion. */
  submit(descs: readonly InvDesc[]): void {
    if (descs.length === 0) return;
    const statusAddr = BigInt(this.status) * 4096n;
    for (let i = 0; i < descs.length; i += SLOTS - 2) {
      const batch = descs.slice(i, i + SLOTS - 2);
      this.host.write(this.status * 4096, u32le(QI_IN_USE));
      for (const d of batch) this.put(d);
      this.put({ type: 'wait', sw: true, fn: true, iflag: false, pd: false, statusData: QI_DONE, statusAddr });
      this.unit.writeIqt(withField(0n, IQT_QT, (this.tail * INV_DESC_BYTES) >> 4));
      if (this.host.u32(this.status * 4096) !== QI_DONE || reg(this.unit.registers().FSTS_REG, FSTS_IQE)) {
        fail('EFAULT', 'invalidation queue error: the unit stopped before the wait descriptor');
      }
    }
  }

  private put(d: InvDesc): void {
    writeQwords(this.host, BigInt(this.base) * 4096n + BigInt(this.tail * INV_DESC_BYTES), encodeInvDesc(d));
    this.history.push(d);
    this.tail = (this.tail + 1) % SLOTS;
  }

  destroy(): void {
    this.host.freeFrames(this.base, 1 << QS);
    this.host.freeFrame(this.status);
  }
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
