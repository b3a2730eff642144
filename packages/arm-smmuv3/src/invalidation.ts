import { ATC_INV_SIZE_ALL, OP, tlbiTg, type CmdFields } from './tables/commands.js';

export type Cmd = [number, CmdFields];

/** Count of trailing zero bits of a positive integer below 2^53. */
function ctz(n: number): number {
  let z = 0;
  while (n % 2 === 0) {
    n /= 2;
    z++;
  }
  return z;
}

/**
 * TLBI commands for [iova, iova+size), as Linux __arm_smmu_tlb_inv_range builds them: with
 * range invalidation (IDR3.RIL) each command covers NUM+1 ≤ 32 times 2^SCALE pages of the
 * granule; without it, one command per `leafBytes`.
 */
export function tlbiRange(
  op: number,
  base: CmdFields,
  iova: number,
  size: number,
  granuleShift: number,
  leafBytes: number,
  ril: boolean,
): Cmd[] {
  const cmds: Cmd[] = [];
  const end = iova + size;
  const ipa = op === OP.TLBI_S2_IPA;
  const at4k = (at: number): CmdFields => {
    // Object.assign onto a fresh literal: a spread copy that then grows new keys leaves V8's fast
    // paths (microseconds per command).
    const f: CmdFields = Object.assign({}, base);
    if (ipa) f.IPA = at / 4096;
    else f.ADDR = at / 4096;
    f.LEAF = 1;
    return f;
  };
  if (ril) {
    const tg = tlbiTg(granuleShift);
    const granule = 2 ** granuleShift;
    let pages = Math.floor(size / granule);
    let at = iova;
    while (at < end && pages > 0) {
      const scale = ctz(pages);
      const num = Math.floor(pages / 2 ** scale) % 32;
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
  for (let at = iova; at < end; at += leafBytes) cmds.push([op, at4k(at)]);
  return cmds;
}

/**
 * ATC_INV for a range, as Linux arm_smmu_atc_inv_to_cmd: the smallest naturally aligned
 * power-of-two span of 4 KiB pages covering it; size 0 means everything.
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
