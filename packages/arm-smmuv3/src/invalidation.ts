import { ATC_INV_SIZE_ALL, OP, tlbiTg, type CmdFields } from './tables/commands.js';

export type Cmd = [number, CmdFields];

/**
 * Linux CMDQ_MAX_TLBI_OPS (1 << (PAGE_SHIFT - 3)): without range invalidation, a range of more
 * pages than this is invalidated for the whole context instead (one command, not thousands).
 */
export const MAX_TLBI_OPS = 512;
/** CMD_TLBI_* NUM[4:0] and SCALE[4:0] (Linux CMDQ_TLBI_RANGE_NUM_MAX, CMDQ_TLBI_0_SCALE). */
const RANGE_NUM_MAX = 31;
const SCALE_MAX = 31;

/** Count of trailing zero bits of a positive integer below 2^53. */
function ctz(n: number): number {
  let z = 0;
  while (n % 2 === 0) {
    n /= 2;
    z++;
  }
  return z;
}

/** A range to invalidate as numbers: granule-aligned, inside the context's input space. */
export interface InvRange {
  iova: number;
  size: number;
}

/**
 * [iova, iova + size) widened to whole granules, or null when it reaches beyond the 2^inputBits
 * bytes the context translates (or past 2^64): then only an invalidation of the whole context
 * (by ASID or VMID) is sure to cover it, as Linux falls back to for a range too big to walk.
 */
export function invRange(iova: bigint, size: bigint, granule: number, inputBits: number): InvRange | null {
  const g = BigInt(granule);
  const start = (iova / g) * g;
  const end = ((iova + size + g - 1n) / g) * g;
  if (size <= 0n || end > 1n << BigInt(inputBits)) return null;
  return { iova: Number(start), size: Number(end - start) };
}

/**
 * TLBI commands for the granule-aligned range [iova, iova+size), as Linux
 * __arm_smmu_tlb_inv_range builds them: with range invalidation (IDR3.RIL) each command covers
 * NUM+1 ≤ 32 times 2^SCALE granules, taking five bits of the page count at a time; without it,
 * one command per granule. When the range needs more than MAX_TLBI_OPS single commands, or a
 * SCALE beyond its 5-bit field, `whole` (the context's TLBI_NH_ASID / TLBI_S12_VMALL) is issued
 * instead.
 */
export function tlbiRange(op: number, base: CmdFields, iova: number, size: number, granuleShift: number, ril: boolean, whole: Cmd): Cmd[] {
  const cmds: Cmd[] = [];
  const ipa = op === OP.TLBI_S2_IPA;
  const granule = 2 ** granuleShift;
  const at4k = (at: number): CmdFields => {
    // Object.assign onto a fresh literal: a spread copy that then grows new keys leaves V8's fast
    // paths (microseconds per command).
    const f: CmdFields = Object.assign({}, base);
    if (ipa) f.IPA = at / 4096;
    else f.ADDR = at / 4096;
    f.LEAF = 1;
    return f;
  };
  let pages = Math.floor(size / granule);
  if (ril) {
    const tg = tlbiTg(granuleShift);
    let at = iova;
    while (pages > 0) {
      const scale = ctz(pages);
      if (scale > SCALE_MAX) return [whole];
      const num = Math.floor(pages / 2 ** scale) % (RANGE_NUM_MAX + 1);
      const f = at4k(at);
      f.TG = tg;
      f.NUM = num - 1;
      f.SCALE = scale;
      cmds.push([op, f]);
      at += num * 2 ** scale * granule;
      pages -= num * 2 ** scale;
    }
    return cmds;
  }
  if (pages > MAX_TLBI_OPS) return [whole];
  for (let k = 0; k < pages; k++) cmds.push([op, at4k(iova + k * granule)]);
  return cmds;
}

/**
 * ATC_INV for a range, as Linux arm_smmu_atc_inv_to_cmd: the smallest naturally aligned
 * power-of-two span of 4 KiB pages covering it; size 0 (or a null range) means everything.
 */
export function atcInv(sid: number, ssid: number | null, iova: number, size: number): Cmd {
  const fields: CmdFields = { SID: sid };
  if (ssid !== null) {
    fields.SSV = 1;
    fields.SSID = ssid;
  }
  if (size === 0) {
    fields.ATC_SIZE = ATC_INV_SIZE_ALL;
    return [OP.ATC_INV, fields];
  }
  let start = Math.floor(iova / 4096);
  const last = Math.floor((iova + size - 1) / 4096);
  let log2 = 0;
  while (Math.floor(start / 2 ** log2) !== Math.floor(last / 2 ** log2)) log2++;
  start -= start % 2 ** log2;
  fields.ADDR = start;
  fields.ATC_SIZE = log2;
  return [OP.ATC_INV, fields];
}
