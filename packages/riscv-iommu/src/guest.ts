import { fail, type GuestKernelHelpers, type GuestMemory, type GuestPasidEntry, type PgtableFormat } from '@ioasid/core';
import { ALL_PD, ALL_SV, checkPdtFormat, checkSvFormat } from './bind-formats.js';
import { svFormat } from './formats/sv.js';
import { iosatpModeOf, pidBitsOf, type PdMode } from './tables/atp.js';
import { encodePdte, encodeProcessContext, pdi, pdtLevels } from './tables/process-context.js';

function put(guest: GuestMemory, gpa: bigint, q: readonly bigint[]): void {
  const b = new Uint8Array(q.length * 8);
  const v = new DataView(b.buffer);
  q.forEach((x, i) => v.setBigUint64(8 * i, x, true));
  guest.write(gpa, b);
}

function get(guest: GuestMemory, gpa: bigint): bigint {
  return new DataView(guest.read(gpa, 8).buffer).getBigUint64(0, true);
}

function pcOf(e: GuestPasidEntry): [bigint, bigint] {
  const mode = checkSvFormat(e.pgtable, ALL_SV);
  const pscid = e.asid ?? e.pasid;
  if (!Number.isInteger(pscid) || pscid < 0 || pscid >= 2 ** 20) fail('EINVAL', `PSCID ${String(pscid)} of PASID ${e.pasid} must fit 20 bits (PC.ta.PSCID)`);
  if (typeof e.root !== 'bigint' || e.root < 0n || e.root % 4096n !== 0n || e.root >> 56n !== 0n) fail('EINVAL', `root of PASID ${e.pasid} must be a 4 KiB aligned GPA below 2^56 (PC.fsc.PPN)`);
  return encodeProcessContext({ V: true, ENS: false, SUM: false, PSCID: pscid, fsc: { MODE: iosatpModeOf(mode), PPN: Number(e.root >> 12n) } });
}

function checkPid(mode: PdMode, pasid: number): void {
  if (!Number.isInteger(pasid) || pasid < 0 || pasid >= 2 ** pidBitsOf(mode)) fail('EINVAL', `PASID ${String(pasid)} does not fit a ${mode} process directory`);
}

/** The GPA of `pasid`'s PC in a guest PDT, allocating the directory pages on the way. */
function pcSlot(guest: GuestMemory, root: bigint, mode: PdMode, pasid: number): bigint {
  let table = root;
  for (let i = pdtLevels(mode) - 1; i > 0; i--) {
    const at = table + BigInt(pdi(pasid, i) * 8);
    let e = get(guest, at);
    if ((e & 1n) === 0n) {
      const f = guest.allocFrames(1, 1);
      e = encodePdte(f);
      put(guest, at, [e]);
    }
    table = ((e >> 10n) & ((1n << 44n) - 1n)) << 12n;
  }
  return table + BigInt(pdi(pasid, 0) * 16);
}

/** What a guest kernel writes for a RISC-V IOMMU: Sv first-stage tables and process-directory tables in its RAM. */
export const riscvGuestHelpers: GuestKernelHelpers = {
  pageTableFormat(format: PgtableFormat) {
    return svFormat(checkSvFormat(format, ALL_SV));
  },

  buildPasidTable(guest, format, entries) {
    const mode = checkPdtFormat(format, ALL_PD);
    if (!Array.isArray(entries)) fail('EINVAL', 'entries must be an array of { pasid, root, pgtable, asid? }');
    const pcs = entries.map((e) => {
      checkPid(mode, e.pasid);
      return [e.pasid, pcOf(e)] as const;
    });
    const root = BigInt(guest.allocFrames(1, 1)) << 12n;
    for (const [pasid, pc] of pcs) put(guest, pcSlot(guest, root, mode, pasid), pc);
    return root;
  },

  updatePasidEntry(guest, table, format, entry) {
    const mode = checkPdtFormat(format, ALL_PD);
    checkPid(mode, entry.pasid);
    const pc = entry.root === undefined ? [0n, 0n] : pcOf(entry as GuestPasidEntry);
    put(guest, pcSlot(guest, table, mode, entry.pasid), pc);
  },
};
