import { fail } from '@ioasid/core';
import { ilog2 } from './log2.js';
import { DDW_BUS_BASE, PHB4_TCE_PAGE_SHIFTS, TVE_MAX_LEVELS, TVE_SELECT_SHIFT } from './tables/tve.js';

/**
 * DMA window geometry as Linux PowerNV computes it (arch/powerpc/platforms/powernv/pci-ioda-tce.c
 * pnv_pci_ioda2_table_alloc_pages; pci-ioda.c pnv_pci_ioda2_setup_default_config;
 * drivers/vfio/vfio_iommu_spapr_tce.c tce_iommu_create_default_window).
 */
export const POWERNV_IOMMU_MAX_LEVELS = TVE_MAX_LEVELS;
/** pci.h since on-demand indirect levels: the default window uses at least two levels. */
export const POWERNV_IOMMU_DEFAULT_LEVELS = 2;
/**
 * The default 32-bit window VFIO creates for a PE (tce_iommu_create_default_window): bus address 0,
 * table_group->tce32_size = phb->ioda.m32_pci_base (skiboot M32_PCI_START, 2 GiB: the M32 MMIO
 * window sits above it), 4 KiB IO pages, one level.
 */
export const DEFAULT_WINDOW_SIZE = 0x80000000n;
export const DEFAULT_WINDOW_PAGE_SHIFT = 12;
export const DEFAULT_WINDOW_LEVELS = 1;
/** log2 of the largest contiguous kernel allocation, PAGE_SIZE << MAX_PAGE_ORDER (4 KiB pages, order 10). */
export const MAX_ALLOC_SHIFT = 22;

export interface WindowGeometry {
  kind: 'default' | 'ddw';
  /** TVE 2·PE + select; bus address bit 59. */
  select: 0 | 1;
  busStart: bigint;
  /** Bytes asked for (a power of two); the TVE's reach may be larger when levels do not divide evenly. */
  size: bigint;
  pageShift: number;
  levels: number;
  /** log2 of the bytes of one level (every level has the same size). */
  levelShift: number;
  levelBits: number;
  /** What the TVE's TCE_TABLE_SIZE describes: one level, in bytes. */
  tableSize: bigint;
}

/** Linux's per-level size: ceil(entries_shift / levels) index bits, at least one 4 KiB page. */
export function levelShiftFor(pageShift: number, windowShift: number, levels: number): number {
  const entriesShift = windowShift - pageShift;
  return Math.max(Math.ceil(entriesShift / levels) + 3, 12);
}

/** Level count when the user gives none (pnv_pci_ioda2_setup_default_config): levels no larger than one max allocation. */
export function linuxLevels(pageShift: number, windowShift: number): number {
  const tcesOrder = windowShift - pageShift;
  const tcelevelOrder = MAX_ALLOC_SHIFT - 3;
  return Math.max(Math.ceil(tcesOrder / tcelevelOrder), POWERNV_IOMMU_DEFAULT_LEVELS);
}

function geometry(kind: 'default' | 'ddw', size: bigint, pageShift: number, levels: number): WindowGeometry {
  const windowShift = ilog2(size);
  const levelShift = levelShiftFor(pageShift, windowShift, levels);
  return {
    kind,
    select: kind === 'default' ? 0 : 1,
    busStart: kind === 'default' ? 0n : DDW_BUS_BASE,
    size,
    pageShift,
    levels,
    levelShift,
    levelBits: levelShift - 3,
    tableSize: 1n << BigInt(levelShift),
  };
}

export function defaultWindow(): WindowGeometry {
  return geometry('default', DEFAULT_WINDOW_SIZE, DEFAULT_WINDOW_PAGE_SHIFT, DEFAULT_WINDOW_LEVELS);
}

const SIZES_TEXT = '4 KiB, 64 KiB, 2 MiB, 1 GiB';

/** Validates ALLOC's `window` ({ pageSize, size, levels? }) and returns the dynamic window it asks for. */
export function dynamicWindow(spec: unknown): WindowGeometry {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) fail('EINVAL', 'window must be an object { pageSize: bigint, size: bigint, levels?: number }');
  const { pageSize, size, levels } = spec as Record<string, unknown>;
  if (typeof pageSize !== 'bigint') fail('EINVAL', `window.pageSize must be a bigint (got ${typeof pageSize})`);
  const pageShift = PHB4_TCE_PAGE_SHIFTS.find((s) => 1n << BigInt(s) === pageSize);
  if (pageShift === undefined) {
    fail('EINVAL', `window.pageSize ${show(pageSize)} is not an IO page size PHB4 supports (${SIZES_TEXT}: skiboot ibm,supported-tce-sizes)`);
  }
  if (typeof size !== 'bigint') fail('EINVAL', `window.size must be a bigint (got ${typeof size})`);
  if (size <= 0n || (size & (size - 1n)) !== 0n) fail('EINVAL', `window.size ${show(size)} must be a power of two`);
  if (size >= 1n << 64n) fail('EINVAL', `window.size ${show(size)} is larger than the 64-bit bus address space`);
  if (size < pageSize) fail('EINVAL', `window.size 0x${size.toString(16)} is smaller than window.pageSize 0x${pageSize.toString(16)}`);
  if (size > 1n << BigInt(TVE_SELECT_SHIFT)) {
    fail('ENOSPC', `window.size 0x${size.toString(16)} does not fit: the dynamic window starts at bus 0x${DDW_BUS_BASE.toString(16)} and must end below 1<<60 (the 64-bit MSI region)`);
  }
  let lv: number;
  if (levels === undefined) {
    lv = linuxLevels(pageShift, ilog2(size));
  } else {
    if (typeof levels !== 'number' || !Number.isInteger(levels) || levels < 1 || levels > POWERNV_IOMMU_MAX_LEVELS) {
      fail('EINVAL', `window.levels ${String(levels)} must be an integer 1..${POWERNV_IOMMU_MAX_LEVELS} (the TVE holds levels-1 in 3 bits; POWERNV_IOMMU_MAX_LEVELS)`);
    }
    lv = levels;
  }
  const geo = geometry('ddw', size, pageShift, lv);
  if (geo.levelShift > MAX_ALLOC_SHIFT) {
    fail('ENOSPC', `window.size 0x${size.toString(16)} with ${lv} level(s) needs TCE levels of ${2 ** (geo.levelShift - 20)} MiB, more than the largest contiguous allocation (4 MiB); ask for more levels`);
  }
  if (geo.levelBits * lv + pageShift >= 60) {
    fail('ENOSPC', `window.size 0x${size.toString(16)} with ${lv} level(s) of 2^${geo.levelBits} TCEs and 2^${pageShift}-byte pages would reach 2^${geo.levelBits * lv + pageShift} bytes of bus space, beyond what a TVE can translate below 1<<60`);
  }
  return geo;
}

/**
 * The windows ALLOC asks for (VFIO: the windows of a SPAPR TCE container). `window` adds a dynamic
 * DMA window; `defaultWindow` says whether the default 32-bit window is there too, and defaults to
 * true without `window` and to false with it. An IOASID with no window at all is EINVAL.
 */
export function windowsOf(format: Readonly<Record<string, unknown>>): WindowGeometry[] {
  const { window, defaultWindow: wantDefault } = format;
  if (wantDefault !== undefined && typeof wantDefault !== 'boolean') {
    fail('EINVAL', `defaultWindow must be a boolean (got ${typeof wantDefault})`);
  }
  const out: WindowGeometry[] = [];
  if (wantDefault ?? window === undefined) out.push(defaultWindow());
  if (window !== undefined) out.push(dynamicWindow(window));
  if (out.length === 0) fail('EINVAL', 'defaultWindow: false without a window leaves the IOASID no DMA window at all');
  return out;
}

/** A bigint argument in a message (hex, sign kept). */
function show(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}
