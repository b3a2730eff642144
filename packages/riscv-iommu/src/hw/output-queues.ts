import type { HostMemory } from '@ioasid/core';
import { encodeFaultRecord, FQ_RECORD_BYTES, type FaultQueueRecord } from '../tables/fault-record.js';
import { encodePageRequest, PQ_RECORD_BYTES, type PageRequestRecord } from '../tables/page-request.js';
import { FQCSR, IPSR, PQCSR, decodeQueueBase } from './registers.js';
import type { RegisterFile } from './register-file.js';

/**
 * The unit's producer side of the fault queue (spec §3.2) and the page-request queue (§3.3):
 * a record goes at the tail when the queue is on and not full; a full queue sets the overflow
 * flag and the record is lost; a queue outside memory sets the memory-fault flag.
 */
function produce(mem: HostMemory, regs: RegisterFile, q: 'fq' | 'pq', bytes: number, dwords: readonly bigint[]): boolean {
  const csr = q === 'fq' ? 'fqcsr' : 'pqcsr';
  const on = q === 'fq' ? FQCSR.fqon : PQCSR.pqon;
  const of = q === 'fq' ? FQCSR.fqof : PQCSR.pqof;
  const mf = q === 'fq' ? FQCSR.fqmf : PQCSR.pqmf;
  const ie = q === 'fq' ? FQCSR.fie : PQCSR.pie;
  if (!regs.bit(csr, on) || regs.bit(csr, of) || regs.bit(csr, mf)) return false;
  const { frame, entries } = decodeQueueBase(regs.get(q === 'fq' ? 'fqb' : 'pqb'));
  const head = Number(regs.get(q === 'fq' ? 'fqh' : 'pqh')) % entries;
  const tail = Number(regs.get(q === 'fq' ? 'fqt' : 'pqt')) % entries;
  if ((tail + 1) % entries === head) {
    regs.setBit(csr, of, true);
    return false;
  }
  const pa = frame * 4096 + tail * bytes;
  if (pa + bytes > mem.limit) {
    regs.setBit(csr, mf, true);
    return false;
  }
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  dwords.forEach((d, i) => view.setBigUint64(8 * i, d, true));
  mem.write(pa, out);
  regs.set(q === 'fq' ? 'fqt' : 'pqt', BigInt((tail + 1) % entries));
  if (regs.bit(csr, ie)) regs.setBit('ipsr', q === 'fq' ? IPSR.fip : IPSR.pip, true);
  return true;
}

export function queueFault(mem: HostMemory, regs: RegisterFile, r: FaultQueueRecord): boolean {
  return produce(mem, regs, 'fq', FQ_RECORD_BYTES, encodeFaultRecord(r));
}

export function queuePageRequest(mem: HostMemory, regs: RegisterFile, r: PageRequestRecord): boolean {
  return produce(mem, regs, 'pq', PQ_RECORD_BYTES, encodePageRequest(r));
}
