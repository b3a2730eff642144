import type { HostMemory } from '@ioasid/core';
import { FUNC, IODIR, IOFENCE, IOTINVAL, OPCODE, ATS, PRGR } from '../tables/commands.js';
import { getFieldBig } from '@ioasid/core';
import { CQCSR, IPSR, decodeQueueBase } from './registers.js';
import type { RegisterFile } from './register-file.js';
import type { DirectoryCaches } from './directory-caches.js';
import { NO_ID, type Iotlb } from './iotlb.js';

/** What the command consumer acts on besides memory and registers. */
export interface CommandTargets {
  readonly mem: HostMemory;
  readonly regs: RegisterFile;
  readonly dirs: DirectoryCaches;
  readonly iotlb: Iotlb;
  /** ATS.PRGR: a page-request group response leaving for the device. */
  prgr(rid: number, pid: number | undefined, prgIndex: number, code: number): void;
  /** ATS.INVAL: an invalidation leaving for the device's ATC. */
  atsInval(rid: number, pid: number | undefined, payload: bigint): void;
}

/** Commands the consumer has executed, by opcode.func (for tests and the bench). */
export type CommandCounts = Record<string, number>;

const NAMES: Record<string, string> = {
  '1.0': 'IOTINVAL.VMA',
  '1.1': 'IOTINVAL.GVMA',
  '2.0': 'IOFENCE.C',
  '3.0': 'IODIR.INVAL_DDT',
  '3.1': 'IODIR.INVAL_PDT',
  '4.0': 'ATS.INVAL',
  '4.1': 'ATS.PRGR',
};

export function commandName(opcode: number, func: number): string | undefined {
  return NAMES[`${opcode}.${func}`];
}

/**
 * The command-queue consumer (spec §3.1): runs the commands between cqh and cqt in order. An
 * unknown command or a reserved bit stops the queue at that command with cqcsr.cmd_ill (cqh
 * stays on it), until software clears the flag.
 */
export function consumeCommands(t: CommandTargets, counts: CommandCounts): void {
  const { regs, mem } = t;
  if (!regs.bit('cqcsr', CQCSR.cqon) || regs.bit('cqcsr', CQCSR.cmd_ill) || regs.bit('cqcsr', CQCSR.cqmf)) return;
  const { frame, entries } = decodeQueueBase(regs.get('cqb'));
  let head = Number(regs.get('cqh')) % entries;
  const tail = Number(regs.get('cqt')) % entries;
  while (head !== tail) {
    const pa = frame * 4096 + head * 16;
    if (pa + 16 > mem.limit) {
      regs.setBit('cqcsr', CQCSR.cqmf, true);
      break;
    }
    const d0 = mem.u64(pa);
    const d1 = mem.u64(pa + 8);
    if (!execute(t, d0, d1, counts)) {
      regs.setBit('cqcsr', CQCSR.cmd_ill, true);
      if (regs.bit('cqcsr', CQCSR.cie)) regs.setBit('ipsr', IPSR.cip, true);
      break;
    }
    head = (head + 1) % entries;
  }
  regs.set('cqh', BigInt(head));
}

function execute(t: CommandTargets, d0: bigint, d1: bigint, counts: CommandCounts): boolean {
  const opcode = Number(d0 & 0x7fn);
  const func = Number((d0 >> 7n) & 7n);
  const name = commandName(opcode, func);
  if (!name) return false;
  const f = (field: Parameters<typeof getFieldBig>[1]) => getFieldBig(d0, field);
  switch (opcode) {
    case OPCODE.IOTINVAL: {
      // Reserved: bits 11 and 63:60 of dword0; dword1 bits 63:62 and 9:0.
      if ((d0 & 0xf000_0000_0000_0800n) !== 0n || (d1 & 0xc000_0000_0000_03ffn) !== 0n) return false;
      const gv = f(IOTINVAL.GV) !== 0n;
      const pscv = f(IOTINVAL.PSCV) !== 0n;
      const av = f(IOTINVAL.AV) !== 0n;
      if (func === FUNC.GVMA && pscv) return false; // PSCV is reserved in GVMA
      const gscid = gv ? Number(f(IOTINVAL.GSCID)) : undefined;
      const vpn = av ? Number(getFieldBig(d1, IOTINVAL.ADDR)) : undefined;
      if (func === FUNC.VMA) {
        // VMA: first-stage entries of the given GSCID (GV = 1) or of translations without a G-stage (GV = 0).
        t.iotlb.invalidate({ gscid: gv ? gscid : NO_ID, pscid: pscv ? Number(f(IOTINVAL.PSCID)) : undefined, vpn, onlyFirstStage: true });
      } else {
        // GVMA: G-stage leaves of that GSCID (by GPA when AV); entries made through a first stage
        // over it cannot be found by GPA, so all of that GSCID's combined entries go too.
        t.iotlb.invalidate({ gscid, vpn, onlyGStageOnly: true });
        t.iotlb.invalidate({ gscid, onlyFirstStage: true });
      }
      break;
    }
    case OPCODE.IOFENCE:
      if (f(IOFENCE.AV) !== 0n) {
        const addr = Number(d1 << 2n);
        if (addr % 4 === 0 && addr + 4 <= t.mem.limit) {
          const b = new Uint8Array(4);
          new DataView(b.buffer).setUint32(0, Number(f(IOFENCE.DATA)), true);
          t.mem.write(addr, b);
        }
      }
      break;
    case OPCODE.IODIR: {
      const dv = f(IODIR.DV) !== 0n;
      const did = Number(f(IODIR.DID));
      if (func === FUNC.INVAL_DDT) t.dirs.invalidateDdt(dv ? did : undefined);
      else {
        if (!dv) return false; // INVAL_PDT needs a device
        t.dirs.invalidatePdt(did, Number(f(IODIR.PID)));
      }
      break;
    }
    case OPCODE.ATS: {
      const rid = Number(f(ATS.RID));
      const pid = f(ATS.PV) !== 0n ? Number(f(ATS.PID)) : undefined;
      if (func === FUNC.INVAL) t.atsInval(rid, pid, d1);
      else t.prgr(rid, pid, Number(getFieldBig(d1, PRGR.PRG_INDEX)), Number(getFieldBig(d1, PRGR.RESP_CODE)));
      break;
    }
  }
  counts[name] = (counts[name] ?? 0) + 1;
  return true;
}
