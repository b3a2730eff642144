import { bitField, dwField, getFieldBig } from '@ioasid/core';
import type { PdMode } from './atp.js';

/**
 * Process-directory table (spec §2.2). Non-leaf entries: V in bit 0, PPN in 53:10, the rest
 * reserved. Leaves are 16-byte process contexts: ta (V, ENS, SUM, PSCID) and fsc (iosatp).
 * process_id partition (figure 6): PDI[0] = bits 7:0, PDI[1] = 16:8, PDI[2] = 19:17.
 */
export const PDTE = {
  V: bitField('V', 0),
  PPN: bitField('PPN', 53, 10),
} as const;
export const PDTE_RESERVED = 0xffc0_0000_0000_03fen;

export const PC_TA = {
  V: dwField('V', 0, 0),
  ENS: dwField('ENS', 0, 1),
  SUM: dwField('SUM', 0, 2),
  PSCID: dwField('PSCID', 0, 31, 12),
} as const;
/** ta bits 11:3 and 63:32 are reserved. */
export const PC_TA_RESERVED = 0xffff_ffff_0000_0ff8n;

export const PC_FSC = {
  PPN: dwField('PPN', 1, 43, 0),
  MODE: dwField('MODE', 1, 63, 60),
} as const;
export const PC_FSC_RESERVED = 0x0fff_f000_0000_0000n;

export const PC_BYTES = 16;
export const PDI_WIDTHS = [8, 9, 3] as const;

/** Levels of a PDT of `mode`. */
export function pdtLevels(mode: PdMode): number {
  return mode === 'PD8' ? 1 : mode === 'PD17' ? 2 : 3;
}

/** PDI[i] of a process_id. */
export function pdi(pid: number, i: number): number {
  const shift = i === 0 ? 0 : i === 1 ? 8 : 17;
  return Math.floor(pid / 2 ** shift) % 2 ** PDI_WIDTHS[i];
}

export interface ProcessContext {
  V: boolean;
  ENS: boolean;
  SUM: boolean;
  PSCID: number;
  fsc: { MODE: number; PPN: number };
}

export function encodeProcessContext(pc: ProcessContext): [bigint, bigint] {
  if (!pc.V) return [0n, 0n];
  const ta = 1n | (pc.ENS ? 2n : 0n) | (pc.SUM ? 4n : 0n) | (BigInt(pc.PSCID) << 12n);
  return [ta, (BigInt(pc.fsc.MODE) << 60n) | BigInt(pc.fsc.PPN)];
}

export function decodeProcessContext(q: readonly bigint[]): ProcessContext {
  return {
    V: getFieldBig(q, PC_TA.V) !== 0n,
    ENS: getFieldBig(q, PC_TA.ENS) !== 0n,
    SUM: getFieldBig(q, PC_TA.SUM) !== 0n,
    PSCID: Number(getFieldBig(q, PC_TA.PSCID)),
    fsc: { MODE: Number(getFieldBig(q, PC_FSC.MODE)), PPN: Number(getFieldBig(q, PC_FSC.PPN)) },
  };
}

export function encodePdte(nextFrame: number): bigint {
  return (BigInt(nextFrame) << 10n) | 1n;
}
