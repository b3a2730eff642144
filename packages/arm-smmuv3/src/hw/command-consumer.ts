import { getField } from '@ioasid/core';
import { CERROR_ILL, CERROR_NONE, CMD, OP } from '../tables/commands.js';
import type { Endpoints } from './atc.js';
import type { ConfigCache } from './config-cache.js';
import type { Tlb } from './tlb.js';

/** What a consumed command did, kept for tests and traces (the last few hundred). */
export interface ExecutedCommand {
  op: number;
  words: number[];
}

export interface CommandSinks {
  cache: ConfigCache;
  tlb: Tlb;
  endpoints: Endpoints;
  /** RESUME / STALL_TERM reach the unit's stall bookkeeping. */
  resume(sid: number, stag: number, action: number): void;
  terminateStalls(sid: number): void;
}

function f(w: Uint32Array, name: keyof typeof CMD): number {
  return getField(w, 0, CMD[name]);
}

/** Input frames a TLBI covers: a single address (TG = 0) or (NUM+1)·2^SCALE granules (IDR3.RIL). */
function tlbiRange(w: Uint32Array, addrFrame: number): [number, number] {
  const tg = f(w, 'TG');
  if (tg === 0) return [addrFrame, 1];
  const gshift = 10 + 2 * tg;
  const pages = (f(w, 'NUM') + 1) * 2 ** f(w, 'SCALE');
  return [addrFrame, pages * 2 ** (gshift - 12)];
}

/**
 * Executes one command (SMMUv3 §4) against the caches. Returns a CMDQ_CONS.ERR code:
 * CERROR_NONE, or CERROR_ILL for an opcode this SMMU does not implement.
 */
export function executeCommand(w: Uint32Array, s: CommandSinks): number {
  const op = f(w, 'OP');
  switch (op) {
    case OP.PREFETCH_CFG:
    case OP.SYNC:
      return CERROR_NONE;
    case OP.CFGI_STE:
      s.cache.invalidateSte(f(w, 'SID'));
      return CERROR_NONE;
    case OP.CFGI_ALL: {
      const range = f(w, 'RANGE');
      if (range >= 31) s.cache.invalidateAll();
      else {
        const n = 2 ** (range + 1);
        const first = f(w, 'SID') - (f(w, 'SID') % n);
        for (let sid = first; sid < first + n; sid++) s.cache.invalidateSte(sid);
      }
      return CERROR_NONE;
    }
    case OP.CFGI_CD:
      s.cache.invalidateCd(f(w, 'SID'), f(w, 'SSID'));
      return CERROR_NONE;
    case OP.CFGI_CD_ALL:
      s.cache.invalidateAllCds(f(w, 'SID'));
      return CERROR_NONE;
    case OP.TLBI_NH_ALL:
      s.tlb.invalidateNhVmid(f(w, 'VMID'));
      return CERROR_NONE;
    case OP.TLBI_NH_ASID:
      s.tlb.invalidateAsid(f(w, 'VMID'), f(w, 'ASID'));
      return CERROR_NONE;
    case OP.TLBI_NH_VA:
    case OP.TLBI_NH_VAA: {
      const [first, frames] = tlbiRange(w, f(w, 'ADDR'));
      s.tlb.invalidateVa(f(w, 'VMID'), op === OP.TLBI_NH_VA ? f(w, 'ASID') : null, first, frames);
      return CERROR_NONE;
    }
    case OP.TLBI_S2_IPA: {
      const [first, frames] = tlbiRange(w, f(w, 'IPA'));
      s.tlb.invalidateIpa(f(w, 'VMID'), first, frames);
      return CERROR_NONE;
    }
    case OP.TLBI_S12_VMALL:
      s.tlb.invalidateVmid(f(w, 'VMID'));
      return CERROR_NONE;
    case OP.TLBI_NSNH_ALL:
      s.tlb.invalidateAll();
      return CERROR_NONE;
    case OP.ATC_INV: {
      const ssid = f(w, 'SSV') ? f(w, 'SSID') : null;
      s.endpoints.atcInvalidate(f(w, 'SID'), ssid, f(w, 'ADDR'), f(w, 'ATC_SIZE'));
      return CERROR_NONE;
    }
    case OP.PRI_RESP: {
      const ep = s.endpoints.get(f(w, 'SID'));
      const prg = f(w, 'GRPID');
      ep.pendingPrgs.delete(prg);
      ep.responses.push({ prgIndex: prg, ssid: f(w, 'SSV') ? f(w, 'SSID') : -1, code: f(w, 'PRI_RESP') });
      return CERROR_NONE;
    }
    case OP.RESUME:
      s.resume(f(w, 'SID'), f(w, 'STAG'), f(w, 'RESUME_RESP'));
      return CERROR_NONE;
    case OP.STALL_TERM:
      s.terminateStalls(f(w, 'SID'));
      return CERROR_NONE;
    default:
      return CERROR_ILL;
  }
}
