import { fail } from '@ioasid/core';

/**
 * The registers the unit implements by their specification names (VT-d §11.4) and widths in
 * bits, in the order registers() lists them; FRCD_REG[i] (128-bit) follow.
 */
export const REGISTER_WIDTHS = {
  VER_REG: 32, CAP_REG: 64, ECAP_REG: 64, GSTS_REG: 32, RTADDR_REG: 64, FSTS_REG: 32, FECTL_REG: 32,
  IQH_REG: 64, IQT_REG: 64, IQA_REG: 64, ICS_REG: 32, PQH_REG: 64, PQT_REG: 64, PQA_REG: 64, PRS_REG: 32,
} as const satisfies Record<string, number>;

export type RegisterName = keyof typeof REGISTER_WIDTHS;

/** The registers read() knows besides FRCD_REG[i], in the order registers() lists them. */
export const READABLE = Object.keys(REGISTER_WIDTHS) as RegisterName[];

export const FRCD_WIDTH = 128;

/** The i of a name 'FRCD_REG[i]', or null for any other name (no check of i). */
export function frcdNumber(name: string): number | null {
  const m = /^FRCD_REG\[(\d+)\]$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** The index i of 'FRCD_REG[i]' below `count`, or null for any other name. */
export function frcdIndex(name: string, count: number): number | null {
  const i = frcdNumber(name);
  if (i !== null && i >= count) fail('EINVAL', `VT-d has ${count} fault recording registers (no ${name})`);
  return i;
}
