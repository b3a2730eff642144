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
  const addrField = op === OP.TLBI_S2_IPA ? 'IPA' : 'ADDR';
  if (ril) {
    let pages = Math.floor(size / 2 ** granuleShift);
    let at = iova;
    while (at < end && pages > 0) {
      const scale = ctz(pages);
      const num = Math.floor(pages / 2 ** scale) % 32;
      cmds.push([op, { ...base, [addrField]: at / 4096, LEAF: 1, TG: tlbiTg(granuleShift), NUM: num - 1, SCALE: scale }]);
      at += num * 2 ** (scale + granuleShift);
      pages -= num * 2 ** scale;
    }
    return cmds;
  }
  for (let at = iova; at < end; at += leafBytes) cmds.push([op, { ...base, [addrField]: at / 4096, LEAF: 1 }]);
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
  if (size === 0) return [OP.ATC_INV, { ...fields, ATC_SIZE: ATC_INV_SIZE_ALL }];
  let start = Math.floor(iova / 4096);
  const last = Math.floor((iova + size - 1) / 4096);
  let log2 = 0;
  while (Math.floor(start / 2 ** log2) !== Math.floor(last / 2 ** log2)) log2++;
  start -= start % 2 ** log2;
  return [OP.ATC_INV, { ...fields, ADDR: start, ATC_SIZE: log2 }];
}
