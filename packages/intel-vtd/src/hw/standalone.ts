import { fail, type HostMemory } from '@ioasid/core';
import {
  CAP_NFR, ECAP_SMTS, GCMD_QIE, GCMD_SRTP, GCMD_TE, GSTS_QIES, GSTS_RTPS, GSTS_TES, reg,
} from './registers.js';
import { FRCD_WIDTH, frcdNumber, REGISTER_WIDTHS, type RegisterName } from './register-names.js';
import { VtdUnit } from './unit.js';

const REQUIRED = ['CAP_REG', 'ECAP_REG', 'RTADDR_REG'] as const;

/** Every value checked: a known name (FRCD_REG[i] up to CAP_REG.NFR), a bigint of the register's width. */
function checked(registers: Readonly<Record<string, bigint>>): { regs: Map<string, bigint>; frcd: bigint[] } {
  if (registers === null || typeof registers !== 'object' || Array.isArray(registers)) fail('EINVAL', 'registers must be an object of register values by name');
  for (const name of REQUIRED) if (!Object.hasOwn(registers, name)) fail('EINVAL', `registers.${name} is missing: the unit cannot be built without it`);
  const regs = new Map<string, bigint>();
  const frcdValues = new Map<number, bigint>();
  for (const [name, v] of Object.entries(registers)) {
    const frcd = frcdNumber(name);
    const width = frcd !== null ? FRCD_WIDTH : Object.hasOwn(REGISTER_WIDTHS, name) ? REGISTER_WIDTHS[name as RegisterName] : undefined;
    if (width === undefined) fail('EINVAL', `registers.${name}: VT-d has no such register`);
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << BigInt(width)) fail('EINVAL', `registers.${name} must be a ${width}-bit unsigned bigint (got ${String(v)})`);
    if (frcd !== null) frcdValues.set(frcd, v);
    else regs.set(name, v);
  }
  const cap = regs.get('CAP_REG')!;
  const count = reg(cap, CAP_NFR) + 1;
  for (const i of frcdValues.keys()) if (i >= count) fail('EINVAL', `registers.FRCD_REG[${i}]: CAP_REG.NFR gives ${count} fault recording registers`);
  if (reg(regs.get('ECAP_REG')!, ECAP_SMTS) !== 1) fail('EINVAL', 'registers.ECAP_REG: SMTS is 0, but this unit walks scalable-mode tables only');
  return { regs, frcd: Array.from({ length: count }, (_, i) => frcdValues.get(i) ?? 0n) };
}

/**
 * The VT-d unit alone over `memory` (VendorRegistration.hardware): identification registers
 * (VER_REG, CAP_REG, ECAP_REG) from `registers`, then programmed in the order Linux's
 * intel_iommu_init brings a unit up: RTADDR_REG and GCMD.SRTP, the invalidation queue (IQA_REG,
 * GCMD.QIE), the fault event control, the page request queue, and last GCMD.TE. GSTS_REG, when
 * given, says which of SRTP, QIE and TE were done; the registers only the hardware writes (IQH,
 * IQT, PQT, PRS, FSTS, FRCD, ICS) are taken over as given. No driver and no interrupt handler:
 * faults stay in FRCD, page requests in the queue.
 */
export function vtdHardware(memory: HostMemory, registers: Readonly<Record<string, bigint>>): VtdUnit {
  const { regs, frcd } = checked(registers);
  const unit = new VtdUnit(memory, { ver: regs.get('VER_REG'), cap: regs.get('CAP_REG')!, ecap: regs.get('ECAP_REG')! });
  const gsts = regs.get('GSTS_REG');
  const done = (bit: typeof GSTS_TES, otherwise: boolean) => (gsts === undefined ? otherwise : reg(gsts, bit) === 1);
  let gcmd = 0;
  unit.write('RTADDR_REG', regs.get('RTADDR_REG')!);
  if (done(GSTS_RTPS, true)) unit.write('GCMD_REG', BigInt(GCMD_SRTP));
  const iqa = regs.get('IQA_REG');
  if (iqa !== undefined) unit.write('IQA_REG', iqa);
  if (done(GSTS_QIES, iqa !== undefined)) unit.write('GCMD_REG', BigInt((gcmd |= GCMD_QIE)));
  const fectl = regs.get('FECTL_REG');
  if (fectl !== undefined) unit.write('FECTL_REG', fectl);
  const pqa = regs.get('PQA_REG');
  if (pqa !== undefined) unit.write('PQA_REG', pqa);
  const pqh = regs.get('PQH_REG');
  if (pqh !== undefined) unit.write('PQH_REG', pqh);
  unit.restoreHardwareState({
    iqh: regs.get('IQH_REG'),
    iqt: regs.get('IQT_REG'),
    pqt: regs.get('PQT_REG'),
    prs: regs.get('PRS_REG'),
    ics: regs.get('ICS_REG'),
    fsts: regs.get('FSTS_REG'),
    frcd,
  });
  if (done(GSTS_TES, true)) unit.write('GCMD_REG', BigInt((gcmd |= GCMD_TE)));
  return unit;
}
