import { bitField, getFieldBig, type BitField } from '@ioasid/core';

/**
 * Command-queue commands (spec §3.1): 16 bytes, two doublewords. dword0 carries the opcode in
 * bits 6:0 and the function in 9:7; the rest is per command.
 */
export const CMD = {
  opcode: bitField('opcode', 6, 0),
  func: bitField('func3', 9, 7),
} as const;

export const OPCODE = { IOTINVAL: 1, IOFENCE: 2, IODIR: 3, ATS: 4 } as const;
export const FUNC = {
  VMA: 0,
  GVMA: 1,
  C: 0,
  INVAL_DDT: 0,
  INVAL_PDT: 1,
  INVAL: 0,
  PRGR: 1,
} as const;

/** §3.1.1 IOTINVAL.VMA / IOTINVAL.GVMA; dword1 bits 61:10 hold ADDR[63:12]. */
export const IOTINVAL = {
  AV: bitField('AV', 10),
  PSCID: bitField('PSCID', 31, 12),
  PSCV: bitField('PSCV', 32),
  GV: bitField('GV', 33),
  GSCID: bitField('GSCID', 59, 44),
  ADDR: bitField('ADDR[63:12]', 61, 10),
} as const;

/** §3.1.2 IOFENCE.C; dword1 is ADDR[63:2]. */
export const IOFENCE = {
  AV: bitField('AV', 10),
  WSI: bitField('WSI', 11),
  PR: bitField('PR', 12),
  PW: bitField('PW', 13),
  DATA: bitField('DATA', 63, 32),
} as const;

/** §3.1.3 IODIR.INVAL_DDT / IODIR.INVAL_PDT. */
export const IODIR = {
  PID: bitField('PID', 31, 12),
  DV: bitField('DV', 33),
  DID: bitField('DID', 63, 40),
} as const;

/** §3.1.4 ATS.INVAL / ATS.PRGR; dword1 is the PCIe message payload. */
export const ATS = {
  PID: bitField('PID', 31, 12),
  PV: bitField('PV', 32),
  DSV: bitField('DSV', 33),
  RID: bitField('RID', 55, 40),
  DSEG: bitField('DSEG', 63, 56),
} as const;
/** ATS.PRGR payload (PCIe Page Request Group Response). */
export const PRGR = {
  PRG_INDEX: bitField('PRG_INDEX', 40, 32),
  RESP_CODE: bitField('RESP_CODE', 47, 44),
  DST_ID: bitField('DST_ID', 63, 48),
} as const;
/** PCIe response codes carried by ATS.PRGR. */
export const PRGR_RESP = { Success: 0, InvalidRequest: 1, ResponseFailure: 0xf } as const;

export type Command = [dword0: bigint, dword1: bigint];

export function iotinvalVma(o: { gscid?: number; pscid?: number; addr?: bigint }): Command {
  return iotinval(0, o);
}

export function iotinvalGvma(o: { gscid?: number; addr?: bigint }): Command {
  return iotinval(1, o);
}

function iotinval(func: number, o: { gscid?: number; pscid?: number; addr?: bigint }): Command {
  let d0 = BigInt(OPCODE.IOTINVAL) | (BigInt(func) << 7n);
  if (o.addr !== undefined) d0 |= 1n << 10n;
  if (o.pscid !== undefined) d0 |= (BigInt(o.pscid) << 12n) | (1n << 32n);
  if (o.gscid !== undefined) d0 |= (1n << 33n) | (BigInt(o.gscid) << 44n);
  const d1 = o.addr !== undefined ? (o.addr >> 12n) << 10n : 0n;
  return [d0, d1];
}

export function iofenceC(o: { pr?: boolean; pw?: boolean; addr?: bigint; data?: number } = {}): Command {
  let d0 = BigInt(OPCODE.IOFENCE);
  if (o.pr) d0 |= 1n << 12n;
  if (o.pw) d0 |= 1n << 13n;
  if (o.addr !== undefined) d0 |= (1n << 10n) | (BigInt(o.data ?? 0) << 32n);
  return [d0, o.addr !== undefined ? o.addr >> 2n : 0n];
}

export function iodirInvalDdt(deviceId?: number): Command {
  let d0 = BigInt(OPCODE.IODIR) | (BigInt(FUNC.INVAL_DDT) << 7n);
  if (deviceId !== undefined) d0 |= (1n << 33n) | (BigInt(deviceId) << 40n);
  return [d0, 0n];
}

export function iodirInvalPdt(deviceId: number, pid: number): Command {
  return [BigInt(OPCODE.IODIR) | (BigInt(FUNC.INVAL_PDT) << 7n) | (BigInt(pid) << 12n) | (1n << 33n) | (BigInt(deviceId) << 40n), 0n];
}

export function atsInval(rid: number, pid: number | undefined, payload: bigint): Command {
  let d0 = BigInt(OPCODE.ATS) | (BigInt(FUNC.INVAL) << 7n) | (BigInt(rid) << 40n);
  if (pid !== undefined) d0 |= (BigInt(pid) << 12n) | (1n << 32n);
  return [d0, payload];
}

/** ATS.INVAL payload covering everything (S = 1 with all address bits set below the size bit). */
export const ATS_INVAL_ALL = 0x7fff_ffff_ffff_f800n;

export function atsPrgr(rid: number, pid: number | undefined, prgIndex: number, respCode: number): Command {
  let d0 = BigInt(OPCODE.ATS) | (BigInt(FUNC.PRGR) << 7n) | (BigInt(rid) << 40n);
  if (pid !== undefined) d0 |= (BigInt(pid) << 12n) | (1n << 32n);
  return [d0, (BigInt(prgIndex) << 32n) | (BigInt(respCode) << 44n) | (BigInt(rid) << 48n)];
}

export function decodeCommand(c: Command): { opcode: number; func: number; fields: Record<string, bigint> } {
  const opcode = Number(getFieldBig(c[0], CMD.opcode));
  const func = Number(getFieldBig(c[0], CMD.func));
  const table: Record<string, BitField> = opcode === OPCODE.IOTINVAL ? IOTINVAL : opcode === OPCODE.IOFENCE ? IOFENCE : opcode === OPCODE.IODIR ? IODIR : opcode === OPCODE.ATS ? ATS : {};
  const fields: Record<string, bigint> = {};
  for (const f of Object.values(table)) fields[f.name] = getFieldBig(f.name === 'ADDR[63:12]' ? c[1] : c[0], f);
  return { opcode, func, fields };
}
