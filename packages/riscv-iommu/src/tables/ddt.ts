import { bitField } from '@ioasid/core';
import type { DdtpMode } from '../hw/registers.js';

/**
 * Device-directory table (spec §2.1). Non-leaf entries are one doubleword: V in bit 0, the next
 * level's page number in bits 53:10, every other bit reserved. Leaves are device contexts (32
 * bytes in the base format, 64 bytes in the extended format chosen by capabilities.MSI_FLAT).
 */
export const DDTE = {
  V: bitField('V', 0),
  PPN: bitField('PPN', 53, 10),
} as const;
/** Bits of a valid non-leaf DDT entry that must be zero (9:1 and 63:54). */
export const DDTE_RESERVED = 0xffc0_0000_0000_03fen;

/**
 * device_id partition (§2.1, figures 3 and 4): DDI[0] indexes the leaf table, DDI[1] and DDI[2]
 * the upper levels. The base format has 128 DCs of 32 bytes per page, the extended 64 of 64 bytes.
 */
export interface DdiLayout {
  readonly dcBytes: 32 | 64;
  /** Width of DDI[0], DDI[1], DDI[2]. */
  readonly widths: readonly [number, number, number];
}
export const DDI_BASE: DdiLayout = { dcBytes: 32, widths: [7, 9, 8] };
export const DDI_EXTENDED: DdiLayout = { dcBytes: 64, widths: [6, 9, 9] };

export function ddiLayout(msiFlat: boolean): DdiLayout {
  return msiFlat ? DDI_EXTENDED : DDI_BASE;
}

/** Levels of the DDT for a ddtp mode (1LVL … 3LVL). */
export function ddtLevels(mode: DdtpMode): number {
  return mode === '1LVL' ? 1 : mode === '2LVL' ? 2 : mode === '3LVL' ? 3 : 0;
}

/** DDI[i] of a device_id. */
export function ddi(layout: DdiLayout, deviceId: number, i: number): number {
  let shift = 0;
  for (let k = 0; k < i; k++) shift += layout.widths[k];
  return Math.floor(deviceId / 2 ** shift) % 2 ** layout.widths[i];
}

/** Bits of device_id the DDT of `levels` levels resolves: a wider device_id is refused. */
export function deviceIdBits(layout: DdiLayout, levels: number): number {
  let bits = 0;
  for (let k = 0; k < levels; k++) bits += layout.widths[k];
  return bits;
}

export function encodeDdte(nextFrame: number): bigint {
  return (BigInt(nextFrame) << 10n) | 1n;
}
