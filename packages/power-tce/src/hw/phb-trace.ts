import { type TraceFieldValue, type TraceRead, type WalkTracer } from '@ioasid/core';
import { TCE_ADDR_MASK, TCE_PCI_READ, TCE_PCI_WRITE } from '../formats/tce.js';
import { TVE_MAX_LEVELS } from '../tables/tve.js';
import { TVE_REAL_UNIT_SHIFT } from '../tables/tve-real.js';
import type { LatchedTve } from './latched-tve.js';
import type { RidTranslationCache } from './rid-cache.js';
import type { TceCache } from './tce-cache.js';

/** Names of the caches a traced walk probes, and of the structures it reads. */
export const RTC_PROBE = 'RID translation cache';
export const TCE_CACHE_PROBE = 'TCE cache';
export const RTT_ENTRY = 'RTT entry';
export const TVE = 'TVE';
export const TCE = 'TCE';
export const INDIRECT_TCE = 'indirect TCE';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const REAL_UNIT_SHIFT = BigInt(TVE_REAL_UNIT_SHIFT);

/** Where a TVE lives: the TVT is an on-chip IODA table (selected through PHB_IODA_ADDR), not memory. */
export const TVT_LOCATION = 'on-chip TVT (IODA3 table select TVT)';

/** A TVE's fields by their skiboot names (IODA3_TVT_*, without the prefix). */
function tveFields(tve: LatchedTve): Record<string, TraceFieldValue> {
  const f: Record<string, TraceFieldValue> = {
    TABLE_ADDR: tve.tableAddr,
    NUM_LEVELS: tve.levels - 1,
    TCE_TABLE_SIZE: tve.tableSizeField,
    NON_TRANSLATE_50: tve.nonTranslate50,
    IO_PSIZE: tve.ioPsizeField,
  };
  if (tve.bypass && tve.realChecked) {
    f.REAL_START = BigInt(tve.realStartUnit) << REAL_UNIT_SHIFT;
    f.REAL_END = BigInt(tve.realEndUnit) << REAL_UNIT_SHIFT;
  }
  return f;
}

/**
 * The trace hook of one walk (hw/walker.ts takes it, or null for a DMA): records each structure
 * the walk reads into a WalkTracer and, when `caches` is set, probes the RTC and the TCE cache
 * without changing them. The walker decides; this only describes what it read.
 */
export class PhbTrace {
  /** The leaf TCE read, so a permission fault found after it can name its deciding field. */
  private leafRead: TraceRead | null = null;

  constructor(
    readonly tracer: WalkTracer,
    readonly caches: boolean,
  ) {}

  /** The RTC's PE# for `rid` when the walk may use caches (probed, not changed), else -1: read the RTT. */
  rtc(rtc: RidTranslationCache, rid: number): number {
    if (!this.caches) return -1;
    const pe = rtc.lookup(rid);
    this.tracer.probe(RTC_PROBE, pe >= 0);
    return pe;
  }

  /**
   * The TVE whose window holds the bus address, then the TCE cache's value for the IO page when
   * the walk may use caches (a hit ends the walk), else -1: the walk goes on to the TCE table.
   */
  tveThenCache(cache: TceCache, tveIndex: number, page: number, tve: LatchedTve): number {
    this.tve(tveIndex, tve, undefined);
    if (!this.caches) return -1;
    const v = cache.lookup(tveIndex, page);
    cache.recordLookup(tveIndex, page, this.tracer);
    this.tracer.probe(TCE_CACHE_PROBE, v >= 0);
    if (v >= 0) this.leaf(v & (TCE_PCI_READ | TCE_PCI_WRITE), tve.pageShift);
    return v;
  }

  /** The RTT entry of `rid` (a big-endian u16 PE#) and, when it ends the walk, why. */
  rte(rid: number, addr: number, pe: number, numPes: number, reservedPe: number, frozen: boolean): void {
    let decided: string | undefined;
    if (pe >= numPes) decided = `PE# ${pe} >= ${numPes} (PHB_PHB4_EEH_CAP): no such PE`;
    else if (pe === reservedPe) decided = `PE# ${pe} is the reserved PE (PHB4_RESERVED_PE_NUM): the RID is not mapped`;
    else if (frozen) decided = `PE frozen (PESTB[${pe}] DMA_STOPPED = 1, on-chip)`;
    this.read({ structure: RTT_ENTRY, index: rid, addr: BigInt(addr), raw: [BigInt(pe)], fields: { 'PE#': pe } }, decided);
  }

  /** A TVE that is not valid (or has more levels than PHB4 walks). */
  tveInvalid(index: number, tve: LatchedTve): void {
    const why = !tve.valid ? 'TCE_TABLE_SIZE = 0: the TVE is not valid' : `NUM_LEVELS = ${tve.levels - 1}: more than ${TVE_MAX_LEVELS} levels`;
    this.tve(index, tve, why);
  }

  /** A translating TVE whose window ends below the bus offset (`off`, in 4 KiB frames). */
  tveOutOfWindow(index: number, tve: LatchedTve, off: number): void {
    const size = 1n << BigInt(tve.windowShift);
    this.tve(index, tve, `bus offset ${hex(BigInt(off) * 4096n)} is past the window (${hex(size)} bytes: TCE_TABLE_SIZE, NUM_LEVELS, IO_PSIZE)`);
  }

  /** A non-translate TVE: the real address passes through, or its 50-bit range refuses it. */
  tveBypass(index: number, tve: LatchedTve, passed: boolean): void {
    if (!passed) {
      this.tve(index, tve, 'NON_TRANSLATE_50 = 1 and bus address bits 49:24 are outside [REAL_START, REAL_END)');
      return;
    }
    this.tve(index, tve, 'IO_PSIZE = 0 (bypass): bus address bits 49:12 are the real address');
    // Per 4 KiB page, as QEMU pnv_phb4_translate_tve hands out a bypass translation.
    this.leaf(TCE_PCI_READ | TCE_PCI_WRITE, 12);
  }

  /**
   * One TCE read at engine level `level` (0 maps IO pages) of the table `tve` points at; `hi`/`lo`
   * are the big-endian words as the PHB reads them. Levels are counted from the TVE down: 1 is the
   * table the TVE points at, `tve.levels` the TCEs that map IO pages.
   */
  tce(tve: LatchedTve, level: number, index: number, addr: number, hi: number, lo: number): void {
    const raw = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const perms = lo & (TCE_PCI_READ | TCE_PCI_WRITE);
    const r: TraceRead = {
      structure: level === 0 ? TCE : INDIRECT_TCE,
      level: tve.levels - level,
      index,
      addr: BigInt(addr),
      raw: [raw],
      fields: { ADDR: raw & TCE_ADDR_MASK, READ: (perms & TCE_PCI_READ) !== 0, WRITE: (perms & TCE_PCI_WRITE) !== 0 },
    };
    if (perms === 0) r.decided = 'READ = 0 and WRITE = 0';
    this.tracer.read(r);
    if (level === 0 && perms !== 0) {
      this.leafRead = r;
      this.leaf(perms, tve.pageShift);
    }
  }

  /** The leaf the walk reached does not grant the request's direction. */
  denied(write: boolean): void {
    if (this.leafRead) this.leafRead.decided = write ? 'WRITE = 0 (the request writes)' : 'READ = 0 (the request reads)';
  }

  private leaf(perms: number, pageShift: number): void {
    this.tracer.leaf({ read: (perms & TCE_PCI_READ) !== 0, write: (perms & TCE_PCI_WRITE) !== 0 }, 1n << BigInt(pageShift));
  }

  private tve(index: number, tve: LatchedTve, decided: string | undefined): void {
    this.read({ structure: TVE, index, where: TVT_LOCATION, raw: [tve.raw], fields: tveFields(tve) }, decided);
  }

  private read(r: TraceRead, decided: string | undefined): void {
    if (decided !== undefined) r.decided = decided;
    this.tracer.read(r);
  }
}
