import { describe, expect, it } from 'vitest';
import { setFieldBig, type DmaRequest, type FaultRecord } from '@ioasid/core';
import {
  IODA3_TBL_TVT,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  Phb4,
  Phb4Firmware,
  decodeRealModeRange,
  decodeTve,
  encodeRealModeTve,
} from '../src/index.js';
import { expectErrno, newHost } from './helpers.js';

/**
 * Issue 17 item 5: a TVE with IO_PSIZE 0 is a non-translate (bypass) window. QEMU
 * pnv_phb4_translate_tve passes such a DMA through untranslated (real address = bus bits 49:12);
 * skiboot phb4_map_pe_dma_window_real / tve_encode_50b_noxlate build it, and skiboot's CAPI set-up
 * states the range rule of 50-bit non-translate mode (TVE[56]): start <= bus[49:24] < end, with
 * TVE[51] set. TVE[51] alone is "no range checking" (phb4_p2p_set_initiator). Programmed here
 * through PHB_IODA_ADDR / PHB_IODA_DATA0 as skiboot's phb4_ioda_sel + out_be64 do; the IOASID
 * driver never writes one (machine-level test in windows-follow-ioasid.test.ts).
 */

const PE = 7;
const RID = 0x0108;
const MiB = 1n << 20n;
const DDW = 1n << 59n;

function setup() {
  const host = newHost();
  const phb = new Phb4(host);
  const fw = new Phb4Firmware(phb, host);
  fw.setPe(PE, RID, true);
  return { host, phb, fw };
}

/** skiboot phb4_ioda_sel(p, IODA3_TBL_TVT, index, false) then out_be64(PHB_IODA_DATA0, tve). */
function writeTve(phb: Phb4, index: number, tve: bigint): void {
  phb.write('PHB_IODA_ADDR', setFieldBig(setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_TVT), PHB_IODA_AD_TADR, index));
  phb.write('PHB_IODA_DATA0', tve);
}

function req(iova: bigint, write = false): DmaRequest {
  return { rid: RID, pasid: -1, iovaFrame: Number(iova >> 12n), write, privileged: false };
}

function faultOf(r: number | FaultRecord): FaultRecord {
  if (typeof r === 'number') throw new Error(`expected a fault, got frame 0x${r.toString(16)}`);
  return r;
}

describe('real-mode TVE encoding (skiboot tve_encode_50b_noxlate)', () => {
  it('[16 MiB, 80 MiB): start bits 47:24 in TVE[0:23], end in TVE[24:47], TVE[51] and TVE[56] set', () => {
    // (start << 16) & (0xffffff << 40) = 1 << 40; (end >> 8) & (0xffffff << 16) = 5 << 16;
    // PPC_BIT(51) = 0x1000; IODA3_TVT_NON_TRANSLATE_50 = PPC_BIT(56) = 0x80
    expect(encodeRealModeTve(16n * MiB, 80n * MiB)).toBe(0x0000010000051080n);
  });

  it('address bits 49:48 go to TVE[52:53] (start) and TVE[54:55] (end)', () => {
    // start 0x3000000000000: (start >> 38) & (3 << 10) = 0xc00; end 2^50 - 16 MiB:
    // (end >> 8) & (0xffffff << 16) = 0xffffff0000, (end >> 40) & (3 << 8) = 0x300
    const tve = encodeRealModeTve(0x3000000000000n, (1n << 50n) - 16n * MiB);
    expect(tve).toBe(0x000000ffffff1f80n);
    expect(decodeRealModeRange(tve)).toEqual({ checked: true, startUnit: 0x3000000, endUnit: 0x3ffffff });
  });

  it('decodes as a valid TVE (TCE_TABLE_SIZE has TVE[51]) with IO_PSIZE 0: bypass, no TCE window', () => {
    const d = decodeTve(encodeRealModeTve(0n, 1n << 32n));
    expect(d).toMatchObject({ valid: true, bypass: true, ioPsizeField: 0, pageShift: 0, windowShift: 0, nonTranslate50: true });
    expect(decodeTve(0n).bypass).toBe(false);
  });
});

describe('the PHB translates a non-translate TVE as bypass (QEMU pnv_phb4_translate_tve, tps == 0)', () => {
  it('inside [start, end) the bus address is the real address; no TCE is read or cached', () => {
    const { phb } = setup();
    writeTve(phb, PE * 2, encodeRealModeTve(16n * MiB, 80n * MiB));
    expect(phb.translate(req(16n * MiB))).toBe(0x1000);
    expect(phb.translate(req(0x1234567n, true))).toBe(0x1234);
    expect(phb.translate(req(80n * MiB - 1n))).toBe(0x4fff);
    expect(phb.tceCache.entries(PE)).toBe(0);
  });

  it('outside the range (below start, at end and above) the DMA faults OUT_OF_WINDOW and freezes the PE', () => {
    const { phb, fw } = setup();
    writeTve(phb, PE * 2, encodeRealModeTve(16n * MiB, 80n * MiB));
    for (const iova of [0n, 16n * MiB - 4096n, 80n * MiB, 1n << 40n]) {
      const f = faultOf(phb.translate(req(iova)));
      expect(f).toMatchObject({ name: 'OUT_OF_WINDOW', tve: PE * 2, realStart: 16n * MiB, realEnd: 80n * MiB, pe: PE, frozen: true });
      expect(fw.frozen(PE)).toBe(true);
      fw.eehFreezeClear(PE);
    }
  });

  it('only bus bits 49:24 are range checked and only 49:12 reach memory: bits 58:50 are dropped', () => {
    const { phb } = setup();
    writeTve(phb, PE * 2, encodeRealModeTve(16n * MiB, 80n * MiB));
    expect(phb.translate(req((1n << 55n) | 0x1234000n))).toBe(0x1234);
  });

  it('the top unit of a window ending at 2^50 - 1 is outside it (end is exclusive; skiboot CAPI "all memory")', () => {
    const { phb, fw } = setup();
    writeTve(phb, PE * 2, encodeRealModeTve(0n, (1n << 50n) - 1n));
    expect(phb.translate(req((1n << 50n) - 32n * MiB))).toBe(2 ** 38 - 2 * 4096);
    expect(faultOf(phb.translate(req((1n << 50n) - 4096n))).name).toBe('OUT_OF_WINDOW');
    fw.eehFreezeClear(PE);
  });

  it('TVE[51] alone (no TVE[56]) is not range checked (skiboot phb4_p2p_set_initiator)', () => {
    const { phb } = setup();
    writeTve(phb, PE * 2 + 1, 1n << 12n);
    expect(decodeTve(phb.tveRaw(PE * 2 + 1))).toMatchObject({ bypass: true, nonTranslate50: false });
    expect(phb.translate(req(DDW | 0x2345000n))).toBe(0x2345);
    expect(phb.translate(req(DDW | 0x3fffffffff000n))).toBe(2 ** 38 - 1);
  });

  it('IO_PSIZE 0 with TCE_TABLE_SIZE 0, or with more than 5 levels, is still TVE_INVALID (QEMU checks those first)', () => {
    const { phb, fw } = setup();
    writeTve(phb, PE * 2, 0x80n); // TVE[56] alone: TCE_TABLE_SIZE 0
    expect(faultOf(phb.translate(req(0x1000n))).name).toBe('TVE_INVALID');
    fw.eehFreezeClear(PE);
    writeTve(phb, PE * 2, encodeRealModeTve(0n, 1n << 32n) | 0xa000n); // NUM_LEVELS 5: six levels
    expect(faultOf(phb.translate(req(0x1000n))).name).toBe('TVE_INVALID');
  });
});

describe('opal_pci_map_pe_dma_window_real (skiboot phb4_map_pe_dma_window_real)', () => {
  it("Linux's bypass window: TVE 2·PE+1 from bus 1<<59, the size of memory; the bus address less bit 59 is the real address", () => {
    const { host, phb, fw } = setup();
    fw.mapPeDmaWindowReal(PE, PE * 2 + 1, DDW, 1n << 36n);
    expect(phb.tveRaw(PE * 2 + 1)).toBe(encodeRealModeTve(0n, 1n << 36n));
    host.write(0x5000, new Uint8Array([1]));
    expect(phb.translate(req(DDW + 0x5000n, true))).toBe(5);
    expect(faultOf(phb.translate(req(DDW + (1n << 36n)))).name).toBe('OUT_OF_WINDOW');
    fw.eehFreezeClear(PE);
    fw.mapPeDmaWindowReal(PE, PE * 2 + 1, 0n, 0n);
    expect(phb.tveRaw(PE * 2 + 1)).toBe(0n);
    expect(faultOf(phb.translate(req(DDW + 0x5000n))).name).toBe('TVE_INVALID');
  });

  it('OPAL_PARAMETER (EINVAL): wrong PE, start without the window bit, not 16 MiB aligned, end above 2^50 - 1; the TVT unchanged', () => {
    const { phb, fw } = setup();
    const before = phb.registers();
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2 + 2, 0n, 16n * MiB), 'EINVAL');
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2 + 1, 0n, 16n * MiB), 'EINVAL');
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2, DDW, 16n * MiB), 'EINVAL');
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2, 4096n, 16n * MiB), 'EINVAL');
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2, 0n, 4096n), 'EINVAL');
    expectErrno(() => fw.mapPeDmaWindowReal(PE, PE * 2, 0n, 1n << 50n), 'EINVAL');
    expect(phb.registers()).toEqual(before);
  });
});
