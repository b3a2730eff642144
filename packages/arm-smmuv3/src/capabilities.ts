import type { DeviceDesc, IoasidInfo, IovaRange } from '@ioasid/core';
import { blockAllowed, granuleShift, granuleStride, type Granule } from './formats/lpae-geometry.js';
import type { IdCaps } from './hw/features.js';

/** Linux MSI_IOVA_BASE / MSI_IOVA_LENGTH: the software MSI window, a hole in every IOVA space. */
export const MSI_IOVA_BASE = 0x8000000;
export const MSI_IOVA_LENGTH = 0x100000;

/** Linux CTXDESC_LINEAR_CDMAX: a linear CD table is at most 64 KiB (1024 CDs). */
export const LINEAR_CDMAX = 10;

/** Page and block sizes of kernel-managed tables: the map granule's page and its blocks. */
export function mapPageSizes(g: Granule): bigint[] {
  const sizes: bigint[] = [];
  for (let lvl = 3; lvl >= 1; lvl--) {
    if (lvl === 3 || blockAllowed(g, lvl)) sizes.push(1n << BigInt(granuleShift(g) + granuleStride(g) * (3 - lvl)));
  }
  return sizes;
}

/** [0, 2^IAS) minus the software MSI window (Linux MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
export function permittedRanges(ias: number): IovaRange[] {
  return [
    { start: 0n, last: BigInt(MSI_IOVA_BASE) - 1n },
    { start: BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH), last: (1n << BigInt(ias)) - 1n },
  ];
}

/** Per-device GET_INFO, from what the driver read in the ID registers (IDR0, IDR1, IDR3, IDR5). */
export function deviceCapabilities(c: IdCaps, ias: number, mapGranule: Granule, dev: DeviceDesc): IoasidInfo {
  // SMMUv3 has no mediated devices: an mdev lives on a PASID of its parent, which cannot reach a
  // stage 2 space, so it gets no PASID and no nesting.
  const nesting = c.s1p && c.s2p && dev.kind === 'pdev';
  return {
    // No 'user-pgtable': the guest owns its CD table (driver.ts says why).
    protocols: nesting ? ['map', 'user-pasid-table'] : ['map'],
    nesting: nesting ? 'hardware' : 'none',
    pageSizes: mapPageSizes(mapGranule),
    permittedRanges: permittedRanges(ias),
    // The stage 1 formats the guest's CDs may point at.
    formats: nesting ? c.granules.map((granule) => ({ kind: 'arm-lpae-s1', granule, ias })) : [],
    pasidTableFormats: nesting
      ? [
          // Linear tables are offered up to Linux's CTXDESC_LINEAR_CDMAX.
          { kind: 'arm-smmuv3-cd', layout: 'linear', s1cdmax: Math.min(c.ssidBits, LINEAR_CDMAX) },
          ...(c.cd2l ? [{ kind: 'arm-smmuv3-cd', layout: 'two-level', s1cdmax: c.ssidBits }] : []),
        ]
      : [],
    pasidBits: c.s1p && dev.kind === 'pdev' ? c.ssidBits : 0,
    coherent: c.coherent,
    enqcmd: false,
    pageRequest: dev.pri && c.pri,
    ats: dev.ats && c.ats,
    // Linux arm_smmu_dbm_capable: hardware dirty state (IDR0.HTTU = 2, ARM_SMMU_FEAT_HD) and
    // coherent table walks (IDR0.COHACC, ARM_SMMU_FEAT_COHERENCY).
    dirtyTracking: c.httu === 2 && c.coherent,
  };
}
