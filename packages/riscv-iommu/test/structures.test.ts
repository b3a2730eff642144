/**
 * Golden encodings of whole structures, checked against values composed by hand from the spec's
 * figures (sources per block), and the CAUSE table.
 */
import { describe, expect, it } from 'vitest';
import {
  CAUSE, DDI_BASE, DDI_EXTENDED, FAULT_CATALOGUE, PTE, TTYP, atsPrgr, ddi, decodeDeviceContext, decodeFaultRecord, decodePageRequest,
  decodeProcessContext, encodeCapabilities, decodeCapabilities, encodeDdtp, encodeDeviceContext, encodeFaultRecord, encodePageRequest,
  encodeProcessContext, encodePte, encodeQueueBase, decodeQueueBase, emptyTc, iodirInvalDdt, iodirInvalPdt, iofenceC, iotinvalGvma, iotinvalVma, pdi,
} from '../src/index.js';

describe('device_id partition — spec §2.1 figures 3 (base) and 4 (extended)', () => {
  it('base: DDI[0] = 6:0, DDI[1] = 15:7, DDI[2] = 23:16', () => {
    const id = 0xabcdef;
    expect([0, 1, 2].map((i) => ddi(DDI_BASE, id, i))).toEqual([id & 0x7f, (id >> 7) & 0x1ff, (id >> 16) & 0xff]);
  });
  it('extended: DDI[0] = 5:0, DDI[1] = 14:6, DDI[2] = 23:15', () => {
    const id = 0xabcdef;
    expect([0, 1, 2].map((i) => ddi(DDI_EXTENDED, id, i))).toEqual([id & 0x3f, (id >> 6) & 0x1ff, (id >> 15) & 0x1ff]);
  });
});

describe('process_id partition — spec §2.2 figure 6', () => {
  it('PDI[0] = 7:0, PDI[1] = 16:8, PDI[2] = 19:17', () => {
    const pid = 0xfedcb;
    expect([0, 1, 2].map((i) => pdi(pid, i))).toEqual([pid & 0xff, (pid >> 8) & 0x1ff, (pid >> 17) & 0x7]);
  });
});

describe('device context encoding — spec §2.1 figure 7; Linux struct riscv_iommu_dc', () => {
  it('a nested DC: V, PDTV, DPE; iohgatp Sv48x4 GSCID 5; PSCID 9; pdtp PD17', () => {
    const dc = {
      tc: { ...emptyTc(), V: true, PDTV: true, DPE: true },
      iohgatp: { MODE: 9, GSCID: 5, PPN: 0x1234 },
      ta: { PSCID: 9 },
      fsc: { MODE: 2, PPN: 0x777 },
    };
    const q = encodeDeviceContext(dc, false);
    expect(q).toEqual([0x221n, (9n << 60n) | (5n << 44n) | 0x1234n, 9n << 12n, (2n << 60n) | 0x777n]);
    expect(decodeDeviceContext(q)).toEqual(dc);
    expect(encodeDeviceContext(dc, true)).toHaveLength(8);
  });
});

describe('process context encoding — spec §2.2 figure 9; Linux struct riscv_iommu_pc', () => {
  it('V, ENS, SUM, PSCID 0x12345, iosatp Sv57 at page 0xabc', () => {
    const pc = { V: true, ENS: true, SUM: true, PSCID: 0x12345, fsc: { MODE: 10, PPN: 0xabc } };
    const q = encodeProcessContext(pc);
    expect(q).toEqual([0x12345007n, (10n << 60n) | 0xabcn]);
    expect(decodeProcessContext(q)).toEqual(pc);
  });
});

describe('Sv PTE — RISC-V privileged spec §4.4 figure 4.21 (Sv39 PTE)', () => {
  it('field positions', () => {
    const p = (f: { lo: number; width: number }) => [f.lo + f.width - 1, f.lo];
    expect([PTE.V, PTE.R, PTE.W, PTE.X, PTE.U, PTE.G, PTE.A, PTE.D, PTE.RSW, PTE.PPN, PTE.PBMT, PTE.N].map(p)).toEqual([
      [0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [9, 8], [53, 10], [62, 61], [63, 63],
    ]);
  });
  it('a leaf for page 0x80000 with V R W U A D', () => expect(encodePte(0x80000, 0xd7)).toBe(0x200000d7n));
});

describe('registers — spec §5', () => {
  it('capabilities round trip and version 1.0 = 0x10', () => {
    const c = { sv: { 39: true, 48: true, 57: false }, svx4: { 39: true, 48: false, 57: true }, msiFlat: false, amoHwad: true, ats: true, t2gpa: false, end: false, igs: 1, pas: 56, pd8: true, pd17: true, pd20: false };
    const v = encodeCapabilities(c);
    expect(v & 0xffn).toBe(0x10n);
    expect(v).toBe(0x10n | (1n << 9n) | (1n << 10n) | (1n << 17n) | (1n << 19n) | (1n << 24n) | (1n << 25n) | (1n << 28n) | (56n << 32n) | (1n << 38n) | (1n << 39n));
    expect(decodeCapabilities(v)).toEqual(c);
  });
  it('ddtp 3LVL at page 0x1234', () => expect(encodeDdtp('3LVL', 0x1234)).toBe((0x1234n << 10n) | 4n));
  it('queue base: 1024 entries at page 0x55 is LOG2SZ-1 = 9', () => {
    expect(encodeQueueBase(0x55, 1024)).toBe((0x55n << 10n) | 9n);
    expect(decodeQueueBase((0x55n << 10n) | 9n)).toEqual({ frame: 0x55, entries: 1024 });
  });
});

describe('commands — spec §3.1.1–3.1.4 figures; Linux riscv_iommu_cmd_* builders', () => {
  it('IOTINVAL.VMA GSCID 3 PSCID 7 at 0x12345000', () =>
    expect(iotinvalVma({ gscid: 3, pscid: 7, addr: 0x12345000n })).toEqual([1n | (1n << 10n) | (7n << 12n) | (1n << 32n) | (1n << 33n) | (3n << 44n), 0x12345n << 10n]));
  it('IOTINVAL.GVMA GSCID 3, all addresses', () => expect(iotinvalGvma({ gscid: 3 })).toEqual([1n | (1n << 7n) | (1n << 33n) | (3n << 44n), 0n]));
  it('IOFENCE.C with PR PW', () => expect(iofenceC({ pr: true, pw: true })).toEqual([2n | (1n << 12n) | (1n << 13n), 0n]));
  it('IODIR.INVAL_DDT for device 0x18 and all', () => {
    expect(iodirInvalDdt(0x18)).toEqual([3n | (1n << 33n) | (0x18n << 40n), 0n]);
    expect(iodirInvalDdt()).toEqual([3n, 0n]);
  });
  it('IODIR.INVAL_PDT device 0x18 PID 5', () => expect(iodirInvalPdt(0x18, 5)).toEqual([3n | (1n << 7n) | (5n << 12n) | (1n << 33n) | (0x18n << 40n), 0n]));
  it('ATS.PRGR RID 0x10 PID 2 index 3 success', () =>
    expect(atsPrgr(0x10, 2, 3, 0)).toEqual([4n | (1n << 7n) | (2n << 12n) | (1n << 32n) | (0x10n << 40n), (3n << 32n) | (0x10n << 48n)]));
});

describe('fault record — spec §3.2 figure 11', () => {
  it('write page fault PID 5 device 0x18 at 0xdead000', () => {
    const r = { cause: CAUSE.WRITE_PAGE_FAULT, pid: 5, priv: false, ttyp: TTYP.UntranslatedWrite, did: 0x18, iotval: 0xdead000n, iotval2: 0n };
    const q = encodeFaultRecord(r);
    expect(q[0]).toBe(15n | (5n << 12n) | (1n << 32n) | (3n << 34n) | (0x18n << 40n));
    expect(decodeFaultRecord(q)).toEqual(r);
  });
});

describe('page-request record — spec §3.3 figure 12', () => {
  it('write request, last, PRGI 4', () => {
    const r = { did: 0x10, pid: 2, priv: false, exec: false, read: false, write: true, last: true, prgi: 4, addr: 0x40000n };
    const q = encodePageRequest(r);
    expect(q).toEqual([(2n << 12n) | (1n << 32n) | (0x10n << 40n), 0x40000n | 2n | 4n | (4n << 3n)]);
    expect(decodePageRequest(q)).toEqual(r);
  });
});

describe('CAUSE codes — spec §3.2 table 11; Linux enum riscv_iommu_fq_causes', () => {
  it('every code', () =>
    expect(Object.fromEntries(FAULT_CATALOGUE.map((f) => [f.name, f.code]))).toEqual({
      INST_ACCESS_FAULT: 1, READ_ADDR_MISALIGNED: 4, READ_ACCESS_FAULT: 5, WRITE_ADDR_MISALIGNED: 6, WRITE_ACCESS_FAULT: 7,
      INST_PAGE_FAULT: 12, READ_PAGE_FAULT: 13, WRITE_PAGE_FAULT: 15, INST_GUEST_PAGE_FAULT: 20, READ_GUEST_PAGE_FAULT: 21,
      WRITE_GUEST_PAGE_FAULT: 23, DMA_DISABLED: 256, DDT_LOAD_FAULT: 257, DDT_INVALID: 258, DDT_MISCONFIGURED: 259, TTYP_BLOCKED: 260,
      MSI_LOAD_FAULT: 261, MSI_INVALID: 262, MSI_MISCONFIGURED: 263, MRIF_FAULT: 264, PDT_LOAD_FAULT: 265, PDT_INVALID: 266,
      PDT_MISCONFIGURED: 267, DDT_CORRUPTED: 268, PDT_CORRUPTED: 269, MSI_PT_CORRUPTED: 270, MRIF_CORRUPTED: 271,
      INTERNAL_DP_ERROR: 272, MSI_WRITE_FAULT: 273, PT_CORRUPTED: 274,
    }));
});
