import type { HostMemory } from '@ioasid/core';
import { decodeFaultRecord, FQ_RECORD_BYTES, type FaultQueueRecord } from './tables/fault-record.js';
import { decodePageRequest, PQ_RECORD_BYTES, type PageRequestRecord } from './tables/page-request.js';
import { FQCSR, PQCSR, encodeQueueBase } from './hw/registers.js';
import type { RiscvIommu } from './hw/unit.js';

export const FQ_ENTRIES = 512;
export const PQ_ENTRIES = 512;
const LOG_LIMIT = 256;

/**
 * The kernel's consumer side of the fault queue and the page-request queue (spec §3.2, §3.3;
 * Linux riscv_iommu_fltq_process / riscv_iommu_priq_process): reads the records between head and
 * tail from memory, advances the head, and acknowledges an overflow.
 */
class Consumer<T> {
  readonly frame: number;
  readonly log: T[] = [];
  overflows = 0;

  constructor(
    private readonly mem: HostMemory,
    private readonly unit: RiscvIommu,
    private readonly q: 'fq' | 'pq',
    private readonly entries: number,
    private readonly bytes: number,
    private readonly decode: (q: bigint[]) => T,
  ) {
    const frames = Math.max(1, (entries * bytes) / 4096);
    this.frame = mem.allocFrames(frames, frames);
    unit.write(q === 'fq' ? 'fqb' : 'pqb', encodeQueueBase(this.frame, entries));
    unit.write(q === 'fq' ? 'fqh' : 'pqh', 0n);
    unit.write(q === 'fq' ? 'fqcsr' : 'pqcsr', 1n);
  }

  drain(): T[] {
    const h = this.q === 'fq' ? 'fqh' : 'pqh';
    const csrName = this.q === 'fq' ? 'fqcsr' : 'pqcsr';
    let head = Number(this.unit.read(h));
    const tail = Number(this.unit.read(this.q === 'fq' ? 'fqt' : 'pqt'));
    const out: T[] = [];
    while (head !== tail) {
      const pa = this.frame * 4096 + head * this.bytes;
      const q: bigint[] = [];
      for (let k = 0; k < this.bytes / 8; k++) q.push(this.mem.u64(pa + 8 * k));
      out.push(this.decode(q));
      head = (head + 1) % this.entries;
    }
    this.unit.write(h, BigInt(head));
    const csr = this.unit.read(csrName);
    const of = this.q === 'fq' ? FQCSR.fqof : PQCSR.pqof;
    if ((csr >> BigInt(of.lo)) & 1n) {
      this.overflows++;
      this.unit.write(csrName, csr);
    }
    for (const e of out) {
      this.log.push(e);
      if (this.log.length > LOG_LIMIT) this.log.shift();
    }
    return out;
  }
}

export class FaultQueue extends Consumer<FaultQueueRecord> {
  constructor(mem: HostMemory, unit: RiscvIommu) {
    super(mem, unit, 'fq', FQ_ENTRIES, FQ_RECORD_BYTES, decodeFaultRecord);
  }
}

export class PageRequestQueue extends Consumer<PageRequestRecord> {
  constructor(mem: HostMemory, unit: RiscvIommu) {
    super(mem, unit, 'pq', PQ_ENTRIES, PQ_RECORD_BYTES, decodePageRequest);
  }
}
