import type { HostMemory } from '@ioasid/core';
import { EVT_BYTES, EVT_WORDS, decodeEvent, eventName, type EventFields } from './tables/events.js';
import { PRIQ_BYTES, PRIQ_WORDS, decodePriq, type PriqFieldName } from './tables/pri.js';
import { Q_BASE, Q_OVERFLOW, regField, regValue, type RegName } from './hw/registers.js';
import { qEmpty, qInc, qIndex } from './hw/queue.js';
import { checkPointer } from './tables/pointer.js';
import type { SmmuV3 } from './hw/smmu.js';

const LOG_LIMIT = 256;

/**
 * The kernel's consumer of an output queue (event queue or PRI queue), as Linux
 * arm_smmu_evtq_thread / arm_smmu_priq_thread: reads entries between CONS and PROD from
 * memory, decodes them, and advances CONS (acknowledging an overflow).
 */
class OutputQueue<T> {
  readonly frame: number;
  readonly frames: number;
  /** Decoded entries, oldest first (bounded). */
  readonly log: T[] = [];
  overflows = 0;

  constructor(
    private readonly host: HostMemory,
    private readonly unit: SmmuV3,
    readonly log2: number,
    private readonly bytes: number,
    private readonly words: number,
    private readonly regs: { base: RegName; prod: RegName; cons: RegName },
    private readonly decode: (w: Uint32Array) => T,
    addrBits: number,
  ) {
    const size = 2 ** log2 * bytes;
    this.frames = Math.max(1, Math.ceil(size / 4096));
    this.frame = host.allocFrames(this.frames, this.frames);
    try {
      checkPointer(`${regs.base}.ADDR`, this.frame * 4096, 32, Math.min(52, addrBits));
    } catch (e) {
      host.freeFrames(this.frame, this.frames);
      throw e;
    }
    unit.write(regs.base, regValue(Q_BASE, { RWA: true, ADDR: (this.frame * 4096) / 32, LOG2SIZE: log2 }));
    unit.write(regs.prod, 0n);
    unit.write(regs.cons, 0n);
  }

  /** Entry address of queue slot `index` (for the hardware view). */
  slotAddr(index: number): number {
    return this.frame * 4096 + qIndex(index, this.log2) * this.bytes;
  }

  drain(): T[] {
    const prodV = this.unit.read(this.regs.prod);
    const consV = this.unit.read(this.regs.cons);
    let cons = Number(consV & 0x7fffffffn);
    const prod = Number(prodV & 0x7fffffffn);
    const out: T[] = [];
    const w = new Uint32Array(this.words);
    while (!qEmpty(prod, cons, this.log2)) {
      const at = this.slotAddr(cons);
      for (let k = 0; k < this.words; k++) w[k] = this.host.u32(at + 4 * k);
      out.push(this.decode(w));
      cons = qInc(cons, this.log2);
    }
    const ovf = regField(prodV, Q_OVERFLOW);
    if (ovf !== regField(consV, Q_OVERFLOW)) this.overflows++;
    this.unit.write(this.regs.cons, (BigInt(ovf) << 31n) | BigInt(cons));
    for (const e of out) {
      this.log.push(e);
      if (this.log.length > LOG_LIMIT) this.log.shift();
    }
    return out;
  }

  destroy(): void {
    this.host.freeFrames(this.frame, this.frames);
  }
}

export type EventEntry = EventFields & { name: string };
export type PriEntry = Record<PriqFieldName, number>;

export class EventQueue extends OutputQueue<EventEntry> {
  constructor(host: HostMemory, unit: SmmuV3, log2: number, addrBits = 52) {
    const decode = (w: Uint32Array): EventEntry => {
      const d = decodeEvent(w);
      return { ...d, name: eventName(d.TYPE) };
    };
    super(host, unit, log2, EVT_BYTES, EVT_WORDS, { base: 'EVENTQ_BASE', prod: 'EVENTQ_PROD', cons: 'EVENTQ_CONS' }, decode, addrBits);
  }
}

export class PriQueue extends OutputQueue<PriEntry> {
  constructor(host: HostMemory, unit: SmmuV3, log2: number, addrBits = 52) {
    super(host, unit, log2, PRIQ_BYTES, PRIQ_WORDS, { base: 'PRIQ_BASE', prod: 'PRIQ_PROD', cons: 'PRIQ_CONS' }, (w) => decodePriq(w), addrBits);
  }
}
