/**
 * Golden vectors for every register and structure field, each table citing its source: the RISC-V
 * IOMMU spec v1.0 section, Linux drivers/iommu/riscv/iommu-bits.h and QEMU hw/riscv/riscv-iommu-bits.h
 * (both name the same positions). Positions are written here as [msb, lsb] from those sources.
 */
import { describe, expect, it } from 'vitest';
import { type BitField } from '@ioasid/core';
import {
  ATP, CAP, CQCSR, DC_FSC, DC_IOHGATP, DC_MSI, DC_TA, DC_TC, DDTE, DDTP, DDTP_MODE, FCTL, FQCSR, FQ_HDR, IODIR, IOFENCE, IOHGATP_MODE,
  IOSATP_MODE, IOTINVAL, IPSR, PC_FSC, PC_TA, PDTE, PDTP_MODE, PQCSR, PQ_HDR, PQ_PAYLOAD, PRGR, ATS, QB, REGISTERS, CMD, OPCODE, TTYP,
} from '../src/index.js';

/** Absolute [msb, lsb] within the structure's own doubleword. */
const pos = (f: BitField): [number, number] => [f.lo + f.width - 1, f.lo];

function table(title: string, rows: [string, BitField, [number, number], number?][]) {
  describe(title, () => {
    it.each(rows)('%s', (_n, f, p, dw) => {
      expect(pos(f)).toEqual(p);
      if (dw !== undefined) expect(f.dw).toBe(dw);
    });
  });
}

describe('register offsets — spec §5.1 table 13; Linux RISCV_IOMMU_REG_*; QEMU RISCV_IOMMU_REG_*', () => {
  it('offsets and widths', () => {
    const got = Object.fromEntries(Object.entries(REGISTERS).map(([k, v]) => [k, [v.offset, v.size]]));
    expect(got).toEqual({
      capabilities: [0x00, 8], fctl: [0x08, 4], ddtp: [0x10, 8], cqb: [0x18, 8], cqh: [0x20, 4], cqt: [0x24, 4],
      fqb: [0x28, 8], fqh: [0x30, 4], fqt: [0x34, 4], pqb: [0x38, 8], pqh: [0x40, 4], pqt: [0x44, 4],
      cqcsr: [0x48, 4], fqcsr: [0x4c, 4], pqcsr: [0x50, 4], ipsr: [0x54, 4],
    });
  });
});

table('capabilities — spec §5.3; Linux RISCV_IOMMU_CAPABILITIES_*', [
  ['version', CAP.version, [7, 0]], ['Sv32', CAP.Sv32, [8, 8]], ['Sv39', CAP.Sv39, [9, 9]], ['Sv48', CAP.Sv48, [10, 10]],
  ['Sv57', CAP.Sv57, [11, 11]], ['Svpbmt', CAP.Svpbmt, [15, 15]], ['Sv32x4', CAP.Sv32x4, [16, 16]], ['Sv39x4', CAP.Sv39x4, [17, 17]],
  ['Sv48x4', CAP.Sv48x4, [18, 18]], ['Sv57x4', CAP.Sv57x4, [19, 19]], ['AMO_MRIF', CAP.AMO_MRIF, [21, 21]], ['MSI_FLAT', CAP.MSI_FLAT, [22, 22]],
  ['MSI_MRIF', CAP.MSI_MRIF, [23, 23]], ['AMO_HWAD', CAP.AMO_HWAD, [24, 24]], ['ATS', CAP.ATS, [25, 25]], ['T2GPA', CAP.T2GPA, [26, 26]],
  ['END', CAP.END, [27, 27]], ['IGS', CAP.IGS, [29, 28]], ['HPM', CAP.HPM, [30, 30]], ['DBG', CAP.DBG, [31, 31]],
  ['PAS', CAP.PAS, [37, 32]], ['PD8', CAP.PD8, [38, 38]], ['PD17', CAP.PD17, [39, 39]], ['PD20', CAP.PD20, [40, 40]],
]);

table('fctl — spec §5.4; Linux RISCV_IOMMU_FCTL_*', [['BE', FCTL.BE, [0, 0]], ['WSI', FCTL.WSI, [1, 1]], ['GXL', FCTL.GXL, [2, 2]]]);

table('ddtp — spec §5.5; Linux RISCV_IOMMU_DDTP_*', [['iommu_mode', DDTP.iommu_mode, [3, 0]], ['busy', DDTP.busy, [4, 4]], ['PPN', DDTP.PPN, [53, 10]]]);

describe('ddtp.iommu_mode encodings — spec §5.5 table 14; Linux enum riscv_iommu_ddtp_modes', () => {
  it('Off 0, Bare 1, 1LVL 2, 2LVL 3, 3LVL 4', () => expect(DDTP_MODE).toEqual({ Off: 0, Bare: 1, '1LVL': 2, '2LVL': 3, '3LVL': 4 }));
});

table('cqb/fqb/pqb — spec §5.6, §5.9, §5.12; Linux RISCV_IOMMU_QUEUE_LOG2SZ_FIELD, RISCV_IOMMU_PPN_FIELD', [
  ['LOG2SZ-1', QB.LOG2SZ_1, [4, 0]], ['PPN', QB.PPN, [53, 10]],
]);

table('cqcsr — spec §5.15; Linux RISCV_IOMMU_CQCSR_*', [
  ['cqen', CQCSR.cqen, [0, 0]], ['cie', CQCSR.cie, [1, 1]], ['cqmf', CQCSR.cqmf, [8, 8]], ['cmd_to', CQCSR.cmd_to, [9, 9]],
  ['cmd_ill', CQCSR.cmd_ill, [10, 10]], ['fence_w_ip', CQCSR.fence_w_ip, [11, 11]], ['cqon', CQCSR.cqon, [16, 16]], ['busy', CQCSR.busy, [17, 17]],
]);
table('fqcsr — spec §5.16; Linux RISCV_IOMMU_FQCSR_*', [
  ['fqen', FQCSR.fqen, [0, 0]], ['fie', FQCSR.fie, [1, 1]], ['fqmf', FQCSR.fqmf, [8, 8]], ['fqof', FQCSR.fqof, [9, 9]],
  ['fqon', FQCSR.fqon, [16, 16]], ['busy', FQCSR.busy, [17, 17]],
]);
table('pqcsr — spec §5.17; Linux RISCV_IOMMU_PQCSR_*', [
  ['pqen', PQCSR.pqen, [0, 0]], ['pie', PQCSR.pie, [1, 1]], ['pqmf', PQCSR.pqmf, [8, 8]], ['pqof', PQCSR.pqof, [9, 9]],
  ['pqon', PQCSR.pqon, [16, 16]], ['busy', PQCSR.busy, [17, 17]],
]);
table('ipsr — spec §5.18; Linux RISCV_IOMMU_IPSR_*', [['cip', IPSR.cip, [0, 0]], ['fip', IPSR.fip, [1, 1]], ['pmip', IPSR.pmip, [2, 2]], ['pip', IPSR.pip, [3, 3]]]);

table('non-leaf DDT entry — spec §2.1.1; Linux RISCV_IOMMU_DDTE_*', [['V', DDTE.V, [0, 0]], ['PPN', DDTE.PPN, [53, 10]]]);

table('device context tc (doubleword 0) — spec §2.1.2; Linux RISCV_IOMMU_DC_TC_*', [
  ['V', DC_TC.V, [0, 0], 0], ['EN_ATS', DC_TC.EN_ATS, [1, 1], 0], ['EN_PRI', DC_TC.EN_PRI, [2, 2], 0], ['T2GPA', DC_TC.T2GPA, [3, 3], 0],
  ['DTF', DC_TC.DTF, [4, 4], 0], ['PDTV', DC_TC.PDTV, [5, 5], 0], ['PRPR', DC_TC.PRPR, [6, 6], 0], ['GADE', DC_TC.GADE, [7, 7], 0],
  ['SADE', DC_TC.SADE, [8, 8], 0], ['DPE', DC_TC.DPE, [9, 9], 0], ['SBE', DC_TC.SBE, [10, 10], 0], ['SXL', DC_TC.SXL, [11, 11], 0],
]);
table('device context iohgatp (doubleword 1) — spec §2.1.3; Linux RISCV_IOMMU_DC_IOHGATP_*', [
  ['PPN', DC_IOHGATP.PPN, [43, 0], 1], ['GSCID', DC_IOHGATP.GSCID, [59, 44], 1], ['MODE', DC_IOHGATP.MODE, [63, 60], 1],
]);
table('device context ta (doubleword 2) — spec §2.1.4; Linux RISCV_IOMMU_DC_TA_PSCID', [['PSCID', DC_TA.PSCID, [31, 12], 2]]);
table('device context fsc (doubleword 3) — spec §2.1.5; Linux RISCV_IOMMU_DC_FSC_*', [['PPN', DC_FSC.PPN, [43, 0], 3], ['MODE', DC_FSC.MODE, [63, 60], 3]]);
table('extended device context MSI fields (doublewords 4–6) — spec §2.1.6–2.1.7; Linux RISCV_IOMMU_DC_MSIPTP_*, RISCV_IOMMU_DC_MSI_*', [
  ['msiptp.PPN', DC_MSI.msiptp_PPN, [43, 0], 4], ['msiptp.MODE', DC_MSI.msiptp_MODE, [63, 60], 4],
  ['msi_addr_mask', DC_MSI.msi_addr_mask, [51, 0], 5], ['msi_addr_pattern', DC_MSI.msi_addr_pattern, [51, 0], 6],
]);
table('atp doubleword — Linux RISCV_IOMMU_ATP_PPN_FIELD / RISCV_IOMMU_ATP_MODE_FIELD', [
  ['PPN', ATP.PPN, [43, 0]], ['GSCID', ATP.GSCID, [59, 44]], ['MODE', ATP.MODE, [63, 60]],
]);

describe('atp MODE encodings — spec §2.1.3 table 3, §2.1.5 tables 4–5; Linux enum riscv_iommu_dc_iohgatp_modes / riscv_iommu_dc_fsc_atp_modes', () => {
  it('iohgatp: Bare 0, Sv39x4 8, Sv48x4 9, Sv57x4 10', () => expect(IOHGATP_MODE).toEqual({ Bare: 0, Sv39x4: 8, Sv48x4: 9, Sv57x4: 10 }));
  it('iosatp: Bare 0, Sv39 8, Sv48 9, Sv57 10', () => expect(IOSATP_MODE).toEqual({ Bare: 0, Sv39: 8, Sv48: 9, Sv57: 10 }));
  it('pdtp: Bare 0, PD8 1, PD17 2, PD20 3', () => expect(PDTP_MODE).toEqual({ Bare: 0, PD8: 1, PD17: 2, PD20: 3 }));
});

table('non-leaf PDT entry — spec §2.2.1', [['V', PDTE.V, [0, 0]], ['PPN', PDTE.PPN, [53, 10]]]);
table('process context — spec §2.2.2; Linux RISCV_IOMMU_PC_TA_* / RISCV_IOMMU_PC_FSC_*', [
  ['ta.V', PC_TA.V, [0, 0], 0], ['ta.ENS', PC_TA.ENS, [1, 1], 0], ['ta.SUM', PC_TA.SUM, [2, 2], 0], ['ta.PSCID', PC_TA.PSCID, [31, 12], 0],
  ['fsc.PPN', PC_FSC.PPN, [43, 0], 1], ['fsc.MODE', PC_FSC.MODE, [63, 60], 1],
]);

table('command dword0 common fields — spec §3.1; Linux RISCV_IOMMU_CMD_OPCODE / _FUNC', [['opcode', CMD.opcode, [6, 0]], ['func3', CMD.func, [9, 7]]]);
describe('command opcodes — spec §3.1 table 8; Linux RISCV_IOMMU_CMD_*_OPCODE', () => {
  it('IOTINVAL 1, IOFENCE 2, IODIR 3, ATS 4', () => expect(OPCODE).toEqual({ IOTINVAL: 1, IOFENCE: 2, IODIR: 3, ATS: 4 }));
});
table('IOTINVAL — spec §3.1.1; Linux RISCV_IOMMU_CMD_IOTINVAL_*', [
  ['AV', IOTINVAL.AV, [10, 10]], ['PSCID', IOTINVAL.PSCID, [31, 12]], ['PSCV', IOTINVAL.PSCV, [32, 32]], ['GV', IOTINVAL.GV, [33, 33]],
  ['GSCID', IOTINVAL.GSCID, [59, 44]], ['ADDR (dword1)', IOTINVAL.ADDR, [61, 10]],
]);
table('IOFENCE.C — spec §3.1.2; Linux RISCV_IOMMU_CMD_IOFENCE_*', [
  ['AV', IOFENCE.AV, [10, 10]], ['WSI', IOFENCE.WSI, [11, 11]], ['PR', IOFENCE.PR, [12, 12]], ['PW', IOFENCE.PW, [13, 13]], ['DATA', IOFENCE.DATA, [63, 32]],
]);
table('IODIR — spec §3.1.3; Linux RISCV_IOMMU_CMD_IODIR_*', [['PID', IODIR.PID, [31, 12]], ['DV', IODIR.DV, [33, 33]], ['DID', IODIR.DID, [63, 40]]]);
table('ATS — spec §3.1.4; Linux RISCV_IOMMU_CMD_ATS_*', [
  ['PID', ATS.PID, [31, 12]], ['PV', ATS.PV, [32, 32]], ['DSV', ATS.DSV, [33, 33]], ['RID', ATS.RID, [55, 40]], ['DSEG', ATS.DSEG, [63, 56]],
  ['PRGR PRG_INDEX', PRGR.PRG_INDEX, [40, 32]], ['PRGR RESP_CODE', PRGR.RESP_CODE, [47, 44]], ['PRGR DST_ID', PRGR.DST_ID, [63, 48]],
]);

table('fault-queue record header — spec §3.2 figure 11; Linux RISCV_IOMMU_FQ_HDR_*', [
  ['CAUSE', FQ_HDR.CAUSE, [11, 0]], ['PID', FQ_HDR.PID, [31, 12]], ['PV', FQ_HDR.PV, [32, 32]], ['PRIV', FQ_HDR.PRIV, [33, 33]],
  ['TTYP', FQ_HDR.TTYP, [39, 34]], ['DID', FQ_HDR.DID, [63, 40]],
]);
describe('TTYP encodings — spec §3.2 table 12; Linux enum riscv_iommu_fq_ttypes', () => {
  it('values', () =>
    expect(TTYP).toEqual({ None: 0, UntranslatedExec: 1, UntranslatedRead: 2, UntranslatedWrite: 3, TranslatedExec: 5, TranslatedRead: 6, TranslatedWrite: 7, AtsRequest: 8, MessageRequest: 9 }));
});
table('page-request record — spec §3.3 figure 12; Linux RISCV_IOMMU_PQ_HDR_* / RISCV_IOMMU_PQ_PAYLOAD_*', [
  ['PID', PQ_HDR.PID, [31, 12]], ['PV', PQ_HDR.PV, [32, 32]], ['PRIV', PQ_HDR.PRIV, [33, 33]], ['EXEC', PQ_HDR.EXEC, [34, 34]], ['DID', PQ_HDR.DID, [63, 40]],
  ['R', PQ_PAYLOAD.R, [0, 0]], ['W', PQ_PAYLOAD.W, [1, 1]], ['L', PQ_PAYLOAD.L, [2, 2]], ['PRGI', PQ_PAYLOAD.PRGI, [11, 3]], ['ADDR', PQ_PAYLOAD.ADDR, [63, 12]],
]);
