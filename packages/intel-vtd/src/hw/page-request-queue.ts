import { encodePageRequest, PRQ_DESC_BYTES, type PageRequest } from '../tables/page-request.js';
import { PQA_PQA, PQA_PQS, PQH_PQH, PQT_PQT, PRS_PPR, PRS_PRO, regBig, reg, withField } from './registers.js';
import type { PhysBus } from './phys-bus.js';

/**
 * Page request queue: a ring of 32-byte descriptors in host memory at PQA_REG (2^PQS pages); the
 * unit writes at PQT_REG and advances it, software reads from PQH_REG and advances that
 * (VT-d 7.5; Linux drivers/iommu/intel/prq.c, QEMU VTD_PQA_*, VTD_PR_STATUS_*).
 */
export class PageRequestQueue {
  pqa = 0n;
  pqh = 0n;
  pqt = 0n;
  prs = 0n;

  constructor(private readonly bus: PhysBus) {}

  private get bytes(): number {
    return 4096 * 2 ** reg(this.pqa, PQA_PQS);
  }

  /** Whether a request would be written now: the queue is set up and not full. */
  hasRoom(): boolean {
    return regBig(this.pqa, PQA_PQA) !== 0n && this.nextTail() !== Number(regBig(this.pqh, PQH_PQH) << 5n);
  }

  private nextTail(): number {
    return (Number(regBig(this.pqt, PQT_PQT) << 5n) + PRQ_DESC_BYTES) % this.bytes;
  }

  /** Writes a request; false if the queue is full or not set up (PRS.PRO is set then). */
  push(r: PageRequest): boolean {
    const base = Number(regBig(this.pqa, PQA_PQA) << 12n);
    if (base === 0) return false;
    const tail = Number(regBig(this.pqt, PQT_PQT) << 5n);
    const head = Number(regBig(this.pqh, PQH_PQH) << 5n);
    const next = this.nextTail();
    if (next === head) {
      this.prs = withField(this.prs, PRS_PRO, 1);
      return false;
    }
    this.bus.writeQwords(base + tail, encodePageRequest(r));
    this.pqt = withField(0n, PQT_PQT, next >> 5);
    this.prs = withField(this.prs, PRS_PPR, 1);
    return true;
  }

  /** Software writes PRS: PPR and PRO are write-1-to-clear. */
  writePrs(v: bigint): void {
    if (reg(v, PRS_PPR)) this.prs = withField(this.prs, PRS_PPR, 0);
    if (reg(v, PRS_PRO)) this.prs = withField(this.prs, PRS_PRO, 0);
  }
}
