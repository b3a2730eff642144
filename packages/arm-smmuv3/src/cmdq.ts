import { POW2, type HostMemory } from '@ioasid/core';
import { CERROR_NONE, CMD_BYTES, CMD_WORDS, OP, encodeCommandInto, opName, type CmdFields } from './tables/commands.js';
import { CMDQ_CONS_ERR, Q_BASE, regValue } from './hw/registers.js';
import { qFull, qInc, qIndex, qMask } from './hw/queue.js';
import { checkPointer } from './tables/pointer.js';
import type { SmmuV3 } from './hw/smmu.js';

const SYNC: [number, CmdFields] = [OP.SYNC, {}];

/**
 * The kernel's side of the command queue (Linux arm_smmu_cmdq_issue_cmdlist): commands are
 * written into queue memory at PROD, PROD is published through the register, and a CMD_SYNC
 * ends every batch; the driver then checks that CONS caught up without an error.
 */
export class CommandQueue {
  readonly frame: number;
  readonly frames: number;
  private prod = 0;
  private readonly words = new Uint32Array(CMD_WORDS);
  /** Commands issued per opcode name (for tests: which invalidations a call made). */
  readonly issued = new Map<string, number>();
  /** Every command issued, in order (opcode and fields), when `trace` is on. */
  trace: { op: string; fields: CmdFields }[] | null = null;

  constructor(
    private readonly host: HostMemory,
    private readonly unit: SmmuV3,
    readonly log2: number,
    addrBits = 52,
  ) {
    const bytes = 2 ** log2 * CMD_BYTES;
    this.frames = Math.max(1, Math.ceil(bytes / 4096));
    this.frame = host.allocFrames(this.frames, this.frames);
    try {
      checkPointer('CMDQ_BASE.ADDR', this.frame * 4096, 32, Math.min(52, addrBits));
    } catch (e) {
      host.freeFrames(this.frame, this.frames);
      throw e;
    }
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
    const w = this.words;
    for (let k = 0; k <= cmds.length; k++) {
      const [op, fields] = k < cmds.length ? cmds[k] : SYNC;
      if (qFull(this.prod, this.consumer(), this.log2)) this.publish();
      encodeCommandInto(w, op, fields);
      // The entry's words, stored little-endian in queue memory.
      const idx = qIndex(this.prod, this.log2);
      const frame = this.frame + Math.floor((idx * CMD_BYTES) / 4096);
      const mem = this.host.wordsForWrite(frame);
      const at = this.host.wordBase(frame) + ((idx * CMD_BYTES) % 4096) / 4;
      for (let i = 0; i < CMD_WORDS; i++) mem[at + i] = w[i];
      this.prod = qInc(this.prod, this.log2);
      const name = opName(op);
      this.issued.set(name, (this.issued.get(name) ?? 0) + 1);
      this.trace?.push({ op: name, fields });
    }
    this.publish();
    const cons = this.consumer();
    const err = (cons >>> CMDQ_CONS_ERR.lo) & (POW2[CMDQ_CONS_ERR.width] - 1);
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
