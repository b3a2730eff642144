import { fail, fieldMaskBig, setFieldBig, type HostMemory } from '@ioasid/core';
import { ilog2 } from './log2.js';
import type { Phb4 } from './hw/phb.js';
import {
  IODA3_TBL_PEEV,
  IODA3_TBL_PESTA,
  IODA3_TBL_PESTB,
  IODA3_TBL_TVT,
  IODA3_PESTA_MMIO_FROZEN,
  IODA3_PESTB_DMA_STOPPED,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  PHB_RTC_INVALIDATE_ALL,
  PHB_RTT_BAR_ENABLE,
  PHB_RTT_BASE_ADDRESS,
} from './hw/registers.js';
import { peevBit } from './hw/pe-error-state.js';
import { encodeTceKill, tceKillSupportsShift } from './hw/tce-kill.js';
import { fillRtt, RTT_TABLE_FRAMES, writeRte } from './tables/rtt.js';
import { encodeTve, IODA3_TVT_TABLE_ADDR, PHB4_TCE_PAGE_SHIFTS, TVE_MAX_LEVELS, TVE_SELECT_SHIFT } from './tables/tve.js';
import { encodeRealModeTve, TVE_REAL_MAX_END } from './tables/tve-real.js';

/** opal-api.h OPAL_EEH_STOPPED_*: what opal_pci_eeh_freeze_status reports. */
export const OPAL_EEH_STOPPED_NOT_FROZEN = 0;
export const OPAL_EEH_STOPPED_MMIO_FREEZE = 1;
export const OPAL_EEH_STOPPED_DMA_FREEZE = 2;
export const OPAL_EEH_STOPPED_MMIO_DMA_FREEZE = 3;
/** opal-api.h OPAL_EEH_ACTION_CLEAR_FREEZE_*: what opal_pci_eeh_freeze_clear clears. */
export const OPAL_EEH_ACTION_CLEAR_FREEZE_MMIO = 1;
export const OPAL_EEH_ACTION_CLEAR_FREEZE_DMA = 2;
export const OPAL_EEH_ACTION_CLEAR_FREEZE_ALL = 3;

/** Real-mode windows are whole 16 MiB units (phb4_map_pe_dma_window_real). */
const REAL_ALIGN_MASK = 0xffffffn;

/**
 * The firmware between Linux and the PHB (skiboot hw/phb4.c behind the OPAL calls Linux makes):
 * it owns the RTT in memory and programs the IODA tables and the kill/invalidate registers.
 */
export class Phb4Firmware {
  /** Host address of the RID translation table. */
  readonly rttBase: number;
  /** PHB_TCE_KILL values of KILL_PE per PE#, composed once (the register value never changes). */
  private readonly peKills: bigint[] = [];

  /**
   * @param hw560152 skiboot turns page kills into PE kills (erratum HW560152: a page kill can be
   *   dropped when the kill queue is backed up); false issues one KILL_ONE per page.
   */
  constructor(
    readonly phb: Phb4,
    readonly mem: HostMemory,
    readonly hw560152 = true,
  ) {
    // phb4_allocate_tables: 128 KiB naturally aligned, every RID on the reserved PE;
    // Init_20 writes the BAR with its enable bit.
    const frame = mem.allocFrames(RTT_TABLE_FRAMES, RTT_TABLE_FRAMES);
    const base = BigInt(frame) * 4096n;
    // PHB_RTT_BASE_ADDRESS holds address bits 55:17: a table above 2^56 cannot be pointed at.
    if ((base & ~fieldMaskBig(PHB_RTT_BASE_ADDRESS)) !== 0n) {
      mem.freeFrames(frame, RTT_TABLE_FRAMES);
      fail('ERANGE', `RID translation table at 0x${base.toString(16)} does not fit PHB_RTT_BASE_ADDRESS (address bits 55:17)`);
    }
    fillRtt(mem, frame, phb.reservedPe);
    this.rttBase = frame * 4096;
    phb.write('PHB_RTT_BAR', base | PHB_RTT_BAR_ENABLE);
  }

  private iodaSelect(table: number, index: number): void {
    this.phb.write('PHB_IODA_ADDR', setFieldBig(setFieldBig(0n, PHB_IODA_AD_TSEL, table), PHB_IODA_AD_TADR, index));
  }

  /** opal_pci_set_pe for one bus/dev/func: RTT entry, then an RTC invalidate. */
  setPe(pe: number, bdfn: number, map: boolean): void {
    writeRte(this.mem, this.rttBase, bdfn, map ? pe : this.phb.reservedPe);
    this.phb.write('PHB_RTC_INVALIDATE', PHB_RTC_INVALIDATE_ALL);
  }

  /**
   * opal_pci_map_pe_dma_window (phb4_map_pe_dma_window): a table size of 0 disables the TVE;
   * otherwise 1..5 levels, a power-of-two table size >= 4 KiB and a 4K/64K/2M/1G page.
   */
  mapPeDmaWindow(pe: number, windowId: number, levels: number, tableAddr: bigint, tableSize: bigint, pageSize: bigint): void {
    if (pe >= this.phb.numPes || windowId >> 1 !== pe) fail('EINVAL', `OPAL_PARAMETER: window ${windowId} is not a TVE of PE#${pe}`);
    if (tableSize === 0n) {
      this.iodaSelect(IODA3_TBL_TVT, windowId);
      this.phb.write('PHB_IODA_DATA0', 0n);
      return;
    }
    if (levels < 1 || levels > TVE_MAX_LEVELS || (tableSize & (tableSize - 1n)) !== 0n || tableSize < 0x1000n) {
      fail('EINVAL', `OPAL_PARAMETER: ${levels} levels / table size 0x${tableSize.toString(16)}`);
    }
    const pageShift = PAGE_SHIFTS.get(pageSize);
    if (pageShift === undefined) fail('EINVAL', `OPAL_PARAMETER: TCE page size 0x${pageSize.toString(16)}`);
    checkTveTable(tableAddr);
    const tts = ilog2(tableSize) - 11;
    if (tts > 31) fail('EINVAL', `OPAL_PARAMETER: table size 0x${tableSize.toString(16)} does not fit TCE_TABLE_SIZE`);
    this.iodaSelect(IODA3_TBL_TVT, windowId);
    this.phb.write('PHB_IODA_DATA0', encodeTve({ tableAddr, levels, tableSize, pageShift }));
  }

  /**
   * opal_pci_map_pe_dma_window_real (phb4_map_pe_dma_window_real): a non-translate TVE for bus
   * addresses [pciStart, pciStart + size), or a zero TVE when `size` is 0. The start must carry the
   * window's select bit 59, both must be 16 MiB multiples and the end no higher than 2^50 - 1.
   * Linux uses it for a kernel DMA bypass; the IOASID driver never does (it would break isolation).
   */
  mapPeDmaWindowReal(pe: number, windowId: number, pciStart: bigint, size: bigint): void {
    if (pe >= this.phb.numPes || windowId >> 1 !== pe) fail('EINVAL', `OPAL_PARAMETER: window ${windowId} is not a TVE of PE#${pe}`);
    let tve = 0n;
    if (size !== 0n) {
      if (pciStart >> BigInt(TVE_SELECT_SHIFT) !== BigInt(windowId & 1)) fail('EINVAL', `OPAL_PARAMETER: start 0x${pciStart.toString(16)} is not in window ${windowId & 1}`);
      const start = pciStart & ((1n << BigInt(TVE_SELECT_SHIFT)) - 1n);
      const end = start + size;
      if ((start & REAL_ALIGN_MASK) !== 0n || (size & REAL_ALIGN_MASK) !== 0n || end > TVE_REAL_MAX_END) {
        fail('EINVAL', `OPAL_PARAMETER: real-mode window 0x${start.toString(16)}+0x${size.toString(16)}`);
      }
      tve = encodeRealModeTve(start, end);
    }
    this.iodaSelect(IODA3_TBL_TVT, windowId);
    this.phb.write('PHB_IODA_DATA0', tve);
  }

  /** opal_pci_tce_kill (phb4_tce_kill). */
  tceKill(kind: 'pages' | 'pe' | 'all', pe: number, tceSize: bigint, dmaAddr: bigint, npages: number): void {
    if (kind === 'pages' && this.hw560152) kind = 'pe';
    // skiboot writes one KILL_ONE per page; past what the TCE cache can hold, the model writes one
    // KILL_PE instead (it drops a superset of those entries), so a kill of a huge range stays bounded.
    if (kind === 'pages' && npages > this.phb.tceCache.capacity) kind = 'pe';
    if (kind === 'all') return this.phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'all' }));
    if (kind === 'pe') return this.phb.write('PHB_TCE_KILL', (this.peKills[pe] ??= encodeTceKill({ kind: 'pe', pe })));
    const pageShift = ilog2(tceSize);
    if (!tceKillSupportsShift(pageShift) || (dmaAddr & (0xf000000000000000n | (tceSize - 1n))) !== 0n) {
      fail('EINVAL', `OPAL_PARAMETER: page kill of 0x${tceSize.toString(16)} at 0x${dmaAddr.toString(16)}`);
    }
    for (let i = 0; i < npages; i++) {
      this.phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'one', pe, dmaAddr: dmaAddr + BigInt(i) * tceSize, pageShift }));
    }
  }

  /**
   * opal_pci_eeh_freeze_status (phb4_eeh_freeze_status): the PE's PEEV bit first (clear: not
   * frozen, PESTA/PESTB are not read), then PESTA MMIO_FROZEN and PESTB DMA_STOPPED.
   */
  freezeStatus(pe: number): number {
    this.iodaSelect(IODA3_TBL_PEEV, pe >> 6);
    if ((this.phb.read('PHB_IODA_DATA0') & peevBit(pe)) === 0n) return OPAL_EEH_STOPPED_NOT_FROZEN;
    let state = OPAL_EEH_STOPPED_NOT_FROZEN;
    this.iodaSelect(IODA3_TBL_PESTA, pe);
    if (this.phb.read('PHB_IODA_DATA0') & IODA3_PESTA_MMIO_FROZEN) state |= OPAL_EEH_STOPPED_MMIO_FREEZE;
    this.iodaSelect(IODA3_TBL_PESTB, pe);
    if (this.phb.read('PHB_IODA_DATA0') & IODA3_PESTB_DMA_STOPPED) state |= OPAL_EEH_STOPPED_DMA_FREEZE;
    return state;
  }

  /** Whether freezeStatus reports the PE frozen in any way (Linux: anything but NOT_FROZEN). */
  frozen(pe: number): boolean {
    return this.freezeStatus(pe) !== OPAL_EEH_STOPPED_NOT_FROZEN;
  }

  /** The raw TVT entry `windowId`, read back through PHB_IODA_ADDR / PHB_IODA_DATA0. */
  readTve(windowId: number): bigint {
    this.iodaSelect(IODA3_TBL_TVT, windowId);
    return this.phb.read('PHB_IODA_DATA0');
  }

  /**
   * opal_pci_eeh_freeze_clear (phb4_eeh_freeze_clear): zero PESTA for the MMIO action, PESTB for
   * the DMA action. skiboot writes nothing to the PEEV: the PHB drops the PE's bit itself once both
   * are clear (hw/pe-error-state.ts).
   */
  eehFreezeClear(pe: number, action = OPAL_EEH_ACTION_CLEAR_FREEZE_ALL): void {
    if (action & OPAL_EEH_ACTION_CLEAR_FREEZE_MMIO) {
      this.iodaSelect(IODA3_TBL_PESTA, pe);
      this.phb.write('PHB_IODA_DATA0', 0n);
    }
    if (action & OPAL_EEH_ACTION_CLEAR_FREEZE_DMA) {
      this.iodaSelect(IODA3_TBL_PESTB, pe);
      this.phb.write('PHB_IODA_DATA0', 0n);
    }
  }
}

const PAGE_SHIFTS = new Map<bigint, number>(PHB4_TCE_PAGE_SHIFTS.map((s) => [1n << BigInt(s), s]));

/** ERANGE unless a TVE can point at a TCE table at `addr`: IODA3_TVT_TABLE_ADDR holds address bits 59:12. */
export function checkTveTable(addr: bigint): void {
  if (addr < 0n || (addr & 0xfffn) !== 0n || addr >> BigInt(12 + IODA3_TVT_TABLE_ADDR.width) !== 0n) {
    fail('ERANGE', `TCE table at 0x${addr.toString(16)} does not fit IODA3_TVT_TABLE_ADDR (4 KiB-aligned, below 2^60)`);
  }
}

