import type { HostMemory } from '@ioasid/core';
import { CERROR_NONE, CMD_BYTES, OP, encodeCommand, opName, type CmdFields } from './tables/commands.js';
import { CMDQ_CONS_ERR, Q_BASE, regField, regValue } from './hw/registers.js';
import { qFull, qInc, qMask } from './hw/queue.js';
import type { SmmuV3 } from './hw/smmu.js';

/**
 * The kernel's side of the command queue (Linux arm_smmu_cmdq_issue_cmdlist): commands are
 * written into queue memory at PROD, PROD is published through the register, and a CMD_SYNC
 * ends every batch; the driver then checks that CONS caught up without an error.
 */
export class CommandQueue {
  readonly frame: number;
  readonly frames: number;
  private prod = 0;
  /** Commands issued per opcode name (for tests: which invalidations a call made). */
  readonly issued = new Map<string, number>();
  /** Every command issued, in order (opcode and fields), when `trace` is on. */
  trace: { op: string; fields: CmdFields }[] | null = null;

  constructor(
    private readonly host: HostMemory,
    private readonly unit: SmmuV3,
    readonly log2: number,
  ) {
    const bytes = 2 ** log2 * CMD_BYTES;
    this.frames = Math.max(1, Math.ceil(bytes / 4096));
    this.frame = host.allocFrames(this.frames, this.frames);
    unit.write('CMDQ_BASE', regValue(Q_BASE, { RWA: true, ADDR: (this.frame * 4096) / 32, LOG2SIZE: log2 }));
    unit.write('CMDQ_PROD', 0n);
    unit.write('CMDQ_CONS', 0n);
  }

  private consumer(): number {
    return Number(this.unit.read('CMDQ_CONS'));
  }

  private publish(): void {
    this.unit.write('CMDQ_PROD', BigInt(this.prod));
  }

  /** Issues `cmds` followed by CMD_SYNC. */
  issue(cmds: readonly [number, CmdFields][]): void {
    for (const [op, fields] of [...cmds, [OP.SYNC, {}] as [number, CmdFields]]) {
      if (qFull(this.prod, this.consumer(), this.log2)) this.publish();
      const w = encodeCommand(op, fields);
      const idx = this.prod & (2 ** this.log2 - 1);
      this.host.write(this.frame * 4096 + idx * CMD_BYTES, new Uint8Array(w.buffer));
      this.prod = qInc(this.prod, this.log2);
      const name = opName(op);
      this.issued.set(name, (this.issued.get(name) ?? 0) + 1);
      this.trace?.push({ op: name, fields });
    }
    this.publish();
    const cons = this.consumer();
    const err = regField(BigInt(cons), CMDQ_CONS_ERR);
    if (err !== CERROR_NONE || (cons & qMask(this.log2)) !== this.prod) {
      throw new Error(`SMMU command queue stopped with CERROR ${err} at CONS 0x${cons.toString(16)}`);
    }
  }

  count(op: keyof typeof OP): number {
    return this.issued.get(op) ?? 0;
  }

  destroy(): void {
    this.host.freeFrames(this.frame, this.frames);
  }
}
