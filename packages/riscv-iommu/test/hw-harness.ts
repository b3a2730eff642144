/** A unit over a small host memory, with tables written by hand (no driver), for the hardware tests. */
import { AllocInjector, HostMemory, PROT_READ, PROT_WRITE, RadixPageTable, contiguousRuns } from '@ioasid/core';
import {
  RiscvIommu, emptyTc, encodeCapabilities, encodeDdtp, encodeDeviceContext, encodeProcessContext, encodeQueueBase, svFormat,
  type Capabilities, type DeviceContext, type ProcessContext,
} from '../src/index.js';

export const CAPS: Capabilities = {
  sv: { 39: true, 48: true, 57: true }, svx4: { 39: true, 48: true, 57: true }, msiFlat: false, amoHwad: true, ats: true, t2gpa: false,
  end: false, igs: 0, pas: 56, pd8: true, pd17: true, pd20: true,
};

export function qwBytes(q: readonly bigint[]): Uint8Array {
  const b = new Uint8Array(q.length * 8);
  const v = new DataView(b.buffer);
  q.forEach((x, i) => v.setBigUint64(8 * i, x, true));
  return b;
}

export class Harness {
  readonly mem: HostMemory;
  readonly unit: RiscvIommu;
  readonly ddt: number;
  readonly cq: number;
  readonly fq: number;
  readonly pq: number;
  private cqTail = 0;

  constructor(caps: Capabilities = CAPS, memory = 512n << 20n) {
    this.mem = new HostMemory(new AllocInjector(), memory);
    this.unit = new RiscvIommu(this.mem, encodeCapabilities(caps));
    this.ddt = this.mem.allocFrames(1, 1);
    this.cq = this.mem.allocFrames(1, 1);
    this.fq = this.mem.allocFrames(1, 1);
    this.pq = this.mem.allocFrames(1, 1);
    this.unit.write('cqb', encodeQueueBase(this.cq, 256));
    this.unit.write('fqb', encodeQueueBase(this.fq, 128));
    this.unit.write('pqb', encodeQueueBase(this.pq, 256));
    this.unit.write('cqcsr', 1n);
    this.unit.write('fqcsr', 1n);
    this.unit.write('pqcsr', 1n);
    this.unit.write('ddtp', encodeDdtp('1LVL', this.ddt));
  }

  frame(): number {
    return this.mem.allocFrames(1, 1);
  }

  setDc(deviceId: number, dc: Omit<Partial<DeviceContext>, 'tc'> & { tc?: Partial<DeviceContext['tc']> }): void {
    const full: DeviceContext = {
      tc: { ...emptyTc(), V: true, ...dc.tc },
      iohgatp: dc.iohgatp ?? { MODE: 0, GSCID: 0, PPN: 0 },
      ta: dc.ta ?? { PSCID: 0 },
      fsc: dc.fsc ?? { MODE: 0, PPN: 0 },
    };
    this.mem.write(this.ddt * 4096 + deviceId * 32, qwBytes(encodeDeviceContext(full, false)));
  }

  setPc(pdtFrame: number, pid: number, pc: ProcessContext): void {
    this.mem.write(pdtFrame * 4096 + pid * 16, qwBytes(encodeProcessContext(pc)));
  }

  /** A G-stage (Sv39x4) table mapping `pages` GPA pages from `gpaFrame` to host frames from `hostFrame`. */
  gstage(gpaFrame: number, hostFrame: number, pages: number, prot = PROT_READ | PROT_WRITE): RadixPageTable {
    const pt = RadixPageTable.create(this.mem, svFormat(39, true));
    pt.map(gpaFrame, pages, contiguousRuns(hostFrame, pages), prot);
    return pt;
  }

  command(c: readonly [bigint, bigint]): void {
    this.mem.write(this.cq * 4096 + this.cqTail * 16, qwBytes(c));
    this.cqTail = (this.cqTail + 1) % 256;
    this.unit.write('cqt', BigInt(this.cqTail));
  }

  dma(rid: number, iova: bigint, o: { write?: boolean; pasid?: number; privileged?: boolean; translated?: boolean } = {}) {
    return this.unit.translate({ rid, pasid: o.pasid ?? -1, iovaFrame: Number(iova >> 12n), write: o.write ?? false, privileged: o.privileged ?? false, translated: o.translated });
  }
}
