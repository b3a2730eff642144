import type { HostMemory } from '@ioasid/core';
import type { Command } from './tables/commands.js';
import { iofenceC } from './tables/commands.js';
import { CQCSR, encodeQueueBase } from './hw/registers.js';
import type { RiscvIommu } from './hw/unit.js';

/** Entries of the command queue (Linux's default command queue holds 1024 as well). */
export const CQ_ENTRIES = 1024;

/**
 * The kernel's producer side of the command queue (spec §3.1, Linux riscv_iommu_cmd_send):
 * commands are written at cqt, and cqt is advanced once per batch; every batch ends with
 * IOFENCE.C so that the invalidations are done when it returns.
 */
export class CommandQueue {
  readonly frame: number;
  private tail = 0;
  /** Commands the unit refused (cqcsr.cmd_ill): always 0 unless the driver is wrong. */
  illegal = 0;

  constructor(
    private readonly mem: HostMemory,
    private readonly unit: RiscvIommu,
  ) {
    const frames = (CQ_ENTRIES * 16) / 4096;
    this.frame = mem.allocFrames(frames, frames);
    unit.write('cqb', encodeQueueBase(this.frame, CQ_ENTRIES));
    unit.write('cqt', 0n);
    unit.write('cqcsr', 1n << BigInt(CQCSR.cqen.lo));
  }

  submit(cmds: readonly Command[]): void {
    const all = [...cmds, iofenceC({ pr: true, pw: true })];
    for (let i = 0; i < all.length; ) {
      // The unit consumes up to cqt as soon as cqt is written: at most CQ_ENTRIES - 1 at a time.
      const n = Math.min(CQ_ENTRIES - 1, all.length - i);
      for (let k = 0; k < n; k++) this.put(all[i + k]);
      i += n;
      this.unit.write('cqt', BigInt(this.tail));
      const csr = this.unit.read('cqcsr');
      if ((csr >> BigInt(CQCSR.cmd_ill.lo)) & 1n) {
        // A driver bug, not a user error: count it, skip the command (cqh stays on it), and go on.
        this.illegal++;
        this.unit.write('cqcsr', csr);
        this.tail = Number(this.unit.read('cqh'));
        this.unit.write('cqt', BigInt(this.tail));
      }
    }
  }

  private put(c: Command): void {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, c[0], true);
    v.setBigUint64(8, c[1], true);
    this.mem.write(this.frame * 4096 + this.tail * 16, b);
    this.tail = (this.tail + 1) % CQ_ENTRIES;
  }
}
