import { TVE_MAX_LEVELS, type DecodedTve } from '../tables/tve.js';
import { decodeRealModeRange } from '../tables/tve-real.js';

const TWO_32 = 2 ** 32;
const TWO_30 = 2 ** 30;

/** How the walk uses a latched TVE (LatchedTve.mode): TVE_FAULTS is a TVE_INVALID fault. */
export const TVE_FAULTS = 0;
/** One level whose byte offsets fit 32 bits: one TCE read (readOneLevel), no walk loop. */
export const TVE_ONE_LEVEL = 1;
/** Several levels whose byte offsets fit 32 bits (walkTces). */
export const TVE_WORD_WALK = 2;
/** Levels of 2 GiB or more (walkTcesWide). */
export const TVE_WIDE_WALK = 3;
/** IO_PSIZE 0: no TCE table, the bus address is the real address (bypass.ts). */
export const TVE_BYPASS = 4;

/**
 * A TVT entry as the PHB latches it when the entry is written: the decoded fields plus the numbers
 * the walk derives from them (window reach, page and level sizes, the table address as two words,
 * the real-mode range). Nothing here depends on memory: it is the on-chip register, decoded once
 * instead of per DMA. A class with every field set in the constructor, so the DMA path reads
 * fixed-shape numbers.
 */
export class LatchedTve implements DecodedTve {
  readonly raw: bigint;
  readonly valid: boolean;
  readonly tableAddr: bigint;
  readonly levels: number;
  readonly tableSizeField: number;
  readonly ioPsizeField: number;
  readonly nonTranslate50: boolean;
  readonly levelBits: number;
  readonly pageShift: number;
  readonly windowShift: number;
  readonly bypass: boolean;
  /** Valid, at most TVE_MAX_LEVELS levels and a translating page size. */
  readonly translates: boolean;
  /** TVE_FAULTS, TVE_ONE_LEVEL, TVE_WORD_WALK, TVE_WIDE_WALK or TVE_BYPASS. */
  readonly mode: number;
  /** 4 KiB frames per IO page, and per window: 0 unless the TVE translates, so the DMA path needs no mode test. */
  readonly pageFrames: number;
  readonly windowFrames: number;
  /** Table address bits 63:32 and 31:0, and bits 63:32 as a byte address (tableHi · 2^32). */
  readonly tableHi: number;
  readonly tableLo: number;
  readonly tableHiBytes: number;
  /** 2^levelBits: TCEs per level, and that minus one. */
  readonly levelSpan: number;
  readonly indexMask: number;
  /** IO pages one TCE of each level covers (levelSpan^level). */
  readonly levelPages: number[];
  /** Whether a level's byte offsets fit 32 bits, so the walk ORs them into the low address word. */
  readonly wordWalk: boolean;
  /** Bypass: whether the range is checked (TVE[56]) and its first / one-past-last 16 MiB unit. */
  readonly realChecked: boolean;
  readonly realStartUnit: number;
  readonly realEndUnit: number;

  constructor(d: DecodedTve) {
    this.raw = d.raw;
    this.valid = d.valid;
    this.tableAddr = d.tableAddr;
    this.levels = d.levels;
    this.tableSizeField = d.tableSizeField;
    this.ioPsizeField = d.ioPsizeField;
    this.nonTranslate50 = d.nonTranslate50;
    this.levelBits = d.levelBits;
    this.pageShift = d.pageShift;
    this.windowShift = d.windowShift;
    this.bypass = d.bypass;
    this.translates = d.valid && d.levels <= TVE_MAX_LEVELS && d.pageShift !== 0;
    this.wordWalk = d.levelBits + 3 <= 31;
    this.mode = d.bypass
      ? TVE_BYPASS
      : !this.translates
        ? TVE_FAULTS
        : !this.wordWalk
          ? TVE_WIDE_WALK
          : d.levels === 1
            ? TVE_ONE_LEVEL
            : TVE_WORD_WALK;
    // Small integers stay small integers (tagged, not boxed doubles) for the DMA path.
    const pageFrames = d.pageShift === 0 ? 1 : 2 ** (d.pageShift - 12);
    this.pageFrames = pageFrames < TWO_30 ? pageFrames | 0 : pageFrames;
    this.windowFrames = this.translates ? 2 ** (d.windowShift - 12) : 0;
    this.tableHi = Number(d.tableAddr >> 32n);
    this.tableLo = Number(d.tableAddr & 0xffffffffn);
    this.tableHiBytes = this.tableHi * TWO_32;
    this.levelSpan = 2 ** d.levelBits;
    this.indexMask = this.wordWalk ? (this.levelSpan - 1) | 0 : 0;
    this.levelPages = [];
    for (let l = 0; l < Math.min(d.levels, 8); l++) this.levelPages.push(2 ** (d.levelBits * l));
    const range = decodeRealModeRange(d.raw);
    this.realChecked = d.bypass && range.checked;
    this.realStartUnit = range.startUnit;
    this.realEndUnit = range.endUnit;
  }
}

export function latchTve(d: DecodedTve): LatchedTve {
  return new LatchedTve(d);
}
