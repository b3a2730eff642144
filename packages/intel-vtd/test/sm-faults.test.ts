/**
 * Every scalable-mode fault condition the unit can meet, driven through the hardware from bytes
 * written by hand: the reason in the FRCD register (FR, SID, FI, T, PP/PV) and in the fault record
 * (code, name, explain). Codes: VT-d spec §7.1.3, the table of scalable-mode non-recoverable fault
 * conditions; each test names the Linux drivers/iommu/intel/dmar.c dma_remap_sm_fault_reasons
 * entry for its code and the QEMU VTD_FR_* symbol where QEMU has one.
 */
import { describe, expect, it } from 'vitest';
import { DmaFault, PROT_READ, type DmaRequest } from '@ioasid/core';
import {
  decodeRegister, faultMeaning, faultReasons, FR, FL_US, GCMD_QIE, GCMD_SRTP, GCMD_TE, isQualified, RTADDR_RTA, RTADDR_TTM, withField,
  type FaultName, type UnitFault,
} from '../src/index.js';
import { Hand, NO_MEMORY } from './hand.js';
import { bytes, vtdMachine } from './helpers.js';

const HPA = 0x40000000n;
const reached = new Set<number>();

type Req = Partial<DmaRequest> & { iova?: bigint };

/** Sends `req` (RID 0x08 unless given) and checks the fault record and the FRCD register that holds it. */
function recorded(h: Hand, name: FaultName, req: Req = {}): UnitFault {
  const iova = req.iova ?? 0n;
  const full: DmaRequest = { rid: 0x08, pasid: -1, iovaFrame: Number(iova >> 12n), write: false, privileged: false, ...req };
  const r = h.unit.translate(full);
  expect(typeof r, `expected ${name}, got a translation`).toBe('object');
  const f = r as UnitFault;
  expect({ code: f.code, name: f.name }).toEqual({ code: FR[name], name });
  expect(f.explain).toBe(faultMeaning(FR[name]));
  expect(f.frcd, 'recorded in an FRCD register').toBeGreaterThanOrEqual(0);
  const frcd = decodeRegister(`FRCD_REG[${f.frcd}]`, h.unit.read(`FRCD_REG[${f.frcd}]`));
  expect(frcd).toMatchObject({ F: true, FR: FR[name], SID: full.rid, FI: (iova >> 12n) << 12n, T: !full.write, PP: full.pasid >= 0 });
  if (full.pasid >= 0) expect(frcd.PV).toBe(full.pasid);
  reached.add(f.code);
  return f;
}

/** Writes a qword into host memory. */
function put(h: Hand, pa: bigint, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  h.host.write(Number(pa), b);
}

/** Rewrites the leaf of the second-level table that maps `iova` (whatever its size). */
function pokeSlLeaf(h: Hand, iova: bigint, fn: (v: bigint) => bigint): void {
  h.poke(h.sl, iova, h.sl.walk(Number(iova >> 12n)).at(-1)!.level, fn);
}

/**
 * Nested (PGTT 011b): guest RAM GPA [0, 16 MiB) at HPA 1 GiB + 4 KiB (so the second level maps
 * it in 4 KiB pages); a 4-level guest table at GPA 0x100000 maps GVA 0x5000 → GPA 0x345000.
 */
function nested(pml4e = 0x101000n | 0x27n) {
  const h = new Hand();
  const base = HPA + 0x1000n;
  h.mapSl(0n, base, 16n << 20n);
  const w = (gpa: bigint, v: bigint) => put(h, base + gpa, v);
  w(0x100000n, pml4e);
  w(0x101000n, 0x102000n | 0x27n);
  w(0x102000n, 0x103000n | 0x27n);
  w(0x103000n + 5n * 8n, 0x345000n | 0x67n);
  h.pasid(0, { pgtt: 3, flptptr: 0x100000n });
  return h;
}

function setTtm(h: Hand, rta: bigint, ttm: number): void {
  h.unit.write('RTADDR_REG', withField(withField(0n, RTADDR_RTA, rta >> 12n), RTADDR_TTM, ttm));
  h.unit.write('GCMD_REG', BigInt(GCMD_SRTP | GCMD_QIE | GCMD_TE));
}

describe('root-table address register (RTADDR_REG)', () => {
  it('30h RTADDR_INV: TTM 10b is a mode the unit does not implement (Linux "SM: Invalid Root Table Address"; name invented)', () => {
    const h = new Hand();
    setTtm(h, h.root, 2);
    recorded(h, 'RTADDR_INV', { iova: 0x3000n });
    setTtm(h, h.root, 3); // 11b: abort-DMA mode, not advertised (no ECAP.ADMS)
    recorded(h, 'RTADDR_INV');
  });

  it('31h RTADDR_INV_TTM: TTM 00b, legacy mode, for a request with PASID (Linux "SM: TTM 0 for request with PASID"; QEMU VTD_FR_RTADDR_INV_TTM)', () => {
    const h = new Hand();
    setTtm(h, h.root, 0);
    recorded(h, 'RTADDR_INV_TTM', { pasid: 3, iova: 0x7000n, write: true });
  });
});

describe('root entry', () => {
  it('38h SM_ROOT_TABLE_INV: the root table has no memory behind it (Linux "SM: Error attempting to access Root Entry")', () => {
    const h = new Hand();
    setTtm(h, NO_MEMORY, 1);
    recorded(h, 'SM_ROOT_TABLE_INV');
  });

  it('39h SM_ROOT_ENTRY_P: LP clear for devfn < 128, UP clear for devfn ≥ 128 (Linux "SM: Present bit in Root Entry is clear")', () => {
    const h = new Hand();
    recorded(h, 'SM_ROOT_ENTRY_P', { rid: 0x0108 }); // bus 1: no root entry
    recorded(h, 'SM_ROOT_ENTRY_P', { rid: 0x0088 }); // bus 0, devfn 0x88: UP = 0
  });

  it('3Ah SM_ROOT_ENTRY_RSVD: bits 11:1 or above HAW set (Linux "SM: Non-zero reserved field set in Root Entry"; QEMU VTD_ROOT_ENTRY_RSVD)', () => {
    const h = new Hand();
    h.rawRoot(0, [h.ctxTable | 1n | 0x20n, 0n]);
    recorded(h, 'SM_ROOT_ENTRY_RSVD');
    h.rawRoot(0, [h.ctxTable | 1n | (1n << 48n), 0n]);
    recorded(h, 'SM_ROOT_ENTRY_RSVD');
  });
});

describe('scalable-mode context entry', () => {
  it('40h SM_CONTEXT_TABLE_INV: the context table has no memory behind it (Linux "SM: Error attempting to access Context Entry")', () => {
    const h = new Hand();
    h.rawRoot(0, [NO_MEMORY | 1n, 0n]);
    recorded(h, 'SM_CONTEXT_TABLE_INV');
  });

  it('41h SM_CONTEXT_ENTRY_P: P clear (Linux "SM: Present bit in Context Entry is clear")', () => {
    const h = new Hand();
    recorded(h, 'SM_CONTEXT_ENTRY_P', { rid: 0x10 });
  });

  it('42h SM_CONTEXT_ENTRY_RSVD: bits 8:5, above HAW, 127:85 or 255:128 (Linux "SM: Non-zero reserved field set in the Context Entry"; QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0/VAL1)', () => {
    const h = new Hand();
    for (const q of [[h.dir | 1n | 0x20n, 0n, 0n, 0n], [h.dir | 1n, 1n << 21n, 0n, 0n], [h.dir | 1n, 0n, 0n, 1n]]) {
      h.rawContext(0x08, q);
      h.invalidate({ type: 'cc', gran: 1, did: 0, sid: 0, fm: 0 });
      recorded(h, 'SM_CONTEXT_ENTRY_RSVD');
    }
  });

  it('45h SM_PASIDE_ABS: a request with PASID and PASIDE = 0 (Linux "SM: PASID Enable field in Context Entry is clear"; name invented)', () => {
    const h = new Hand();
    h.context(0x08, { paside: false });
    h.pasid(0, {});
    h.mapSl(0n, HPA, 0x1000n);
    expect(h.dma(0n)).toBe(Number(HPA >> 12n)); // without PASID: RID_PASID, allowed
    recorded(h, 'SM_PASIDE_ABS', { pasid: 0 });
  });

  it('46h SM_PASID_BEYOND_PDTS: the PASID is beyond the 2^(PDTS+7) directory entries (Linux "SM: PASID is larger than the max in Context Entry"; name invented)', () => {
    const h = new Hand(); // PDTS 0: 128 directory entries, PASIDs 0–8191
    recorded(h, 'SM_PASID_BEYOND_PDTS', { pasid: 8192, iova: 0x1000n });
  });

  it('48h SM_RID_PASID_INV: RID_PASID beyond the directory, for a request without PASID (Linux "SM: RID_PASID field error in Context-Entry"; name invented)', () => {
    const h = new Hand();
    h.context(0x08, { ridPasid: 8192 });
    recorded(h, 'SM_RID_PASID_INV');
  });
});

describe('PASID directory and PASID table', () => {
  it('50h PASID_DIR_ACCESS_ERR: the directory has no memory behind it (Linux "SM: Error attempting to access the PASID Directory Entry"; QEMU VTD_FR_PASID_DIR_ACCESS_ERR)', () => {
    const h = new Hand();
    h.context(0x08, { pasidDirPtr: NO_MEMORY });
    recorded(h, 'PASID_DIR_ACCESS_ERR');
  });

  it('51h PASID_DIR_ENTRY_P (Linux "SM: Present bit in Directory Entry is clear"; QEMU VTD_FR_PASID_DIR_ENTRY_P)', () => {
    const h = new Hand();
    recorded(h, 'PASID_DIR_ENTRY_P', { pasid: 64 });
  });

  it('52h PASID_DIR_ENTRY_RSVD: bits 11:2 or above HAW (Linux "SM: Non-zero reserved field set in PASID Directory Entry"; name invented)', () => {
    const h = new Hand();
    h.dirEntry(1, h.ptable | 1n | 0x4n);
    recorded(h, 'PASID_DIR_ENTRY_RSVD', { pasid: 64 });
    h.dirEntry(2, h.ptable | 1n | (1n << 50n));
    recorded(h, 'PASID_DIR_ENTRY_RSVD', { pasid: 128 });
  });

  it('58h PASID_TABLE_ACCESS_ERR (Linux "SM: Error attempting to access PASID Table Entry"; QEMU VTD_FR_PASID_TABLE_ACCESS_ERR)', () => {
    const h = new Hand();
    h.dirEntry(1, NO_MEMORY | 1n);
    recorded(h, 'PASID_TABLE_ACCESS_ERR', { pasid: 64 });
  });

  it('59h PASID_ENTRY_P (Linux "SM: Present bit in PASID Table Entry is clear"; QEMU VTD_FR_PASID_ENTRY_P)', () => {
    const h = new Hand();
    recorded(h, 'PASID_ENTRY_P', { pasid: 3 });
  });

  it('5Bh PASID_TABLE_ENTRY_INV: PGTT reserved, AW not in SAGAW, FLPM unsupported (Linux "SM: Invalid Scalable-Mode PASID Table Entry"; QEMU VTD_FR_PASID_TABLE_ENTRY_INV)', () => {
    const h = new Hand();
    h.pasid(1, { pgtt: 5 });
    recorded(h, 'PASID_TABLE_ENTRY_INV', { pasid: 1 });
    h.pasid(2, { aw: 1 }); // 3-level second level: SAGAW offers 4-level only
    recorded(h, 'PASID_TABLE_ENTRY_INV', { pasid: 2 });
    h.pasid(3, { pgtt: 1, flpm: 2 });
    recorded(h, 'PASID_TABLE_ENTRY_INV', { pasid: 3 });
  });

  it('5Dh SM_SRE_ABS: a supervisor request to a first-level PASID entry with SRE = 0 (Linux "SM: SRE field is clear in PASID Table Entry"; name invented)', () => {
    const h = new Hand();
    h.pasid(1, { pgtt: 1 });
    h.mapFl(0n, HPA, 0x1000n);
    expect(h.dma(0n, { pasid: 1 })).toBe(Number(HPA >> 12n));
    recorded(h, 'SM_SRE_ABS', { pasid: 1, privileged: true });
  });
});

describe('first stage (PGTT 001b)', () => {
  it('70h FS_PAGING_ENTRY_INV: a table below the top has no memory behind it (Linux "SM: Error attempting to access first-level paging entry"; QEMU VTD_FR_FS_PAGING_ENTRY_INV)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x1000n);
    h.poke(h.fl, 0x10000n, 3, (v) => (v & 0xfffn) | NO_MEMORY);
    recorded(h, 'FS_PAGING_ENTRY_INV', { iova: 0x10000n });
  });

  it('71h FS_PAGING_ENTRY_P (Linux "SM: Present bit in first-level paging entry is clear"; QEMU VTD_FR_FS_PAGING_ENTRY_P)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    recorded(h, 'FS_PAGING_ENTRY_P', { iova: 0x20000n, write: true });
  });

  it('72h FS_PAGING_ENTRY_RSVD (Linux "SM: Non-zero reserved field set in first-level paging entry"; QEMU VTD_FPTE_PAGE_L4_RSVD_MASK, PS in a PML4E)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x1000n);
    h.poke(h.fl, 0x10000n, 3, (v) => v | 0x80n);
    recorded(h, 'FS_PAGING_ENTRY_RSVD', { iova: 0x10000n });
  });

  it('73h PASID_ENTRY_FSPTPTR_INV: the top table has no memory behind it (Linux "SM: Error attempting to access FL-PML4 entry"; QEMU VTD_FR_PASID_ENTRY_FSPTPTR_INV)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1, flptptr: NO_MEMORY });
    recorded(h, 'PASID_ENTRY_FSPTPTR_INV');
  });

  it('80h FS_NON_CANONICAL (Linux "SM: Address in first-level translation is not canonical"; QEMU VTD_FR_FS_NON_CANONICAL)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    recorded(h, 'FS_NON_CANONICAL', { iova: 1n << 47n });
  });

  it('81h FS_PAGING_ENTRY_US: a user request to a supervisor page (Linux "SM: U/S set 0 for first-level translation with user privilege"; QEMU VTD_FR_FS_PAGING_ENTRY_US)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x1000n);
    h.poke(h.fl, 0x10000n, 0, (v) => v & ~BigInt(FL_US));
    recorded(h, 'FS_PAGING_ENTRY_US', { iova: 0x10000n });
  });

  it('85h SM_WRITE: a write to a read-only first-stage page (Linux "SM: No write permission for Write/AtomicOp request"; QEMU VTD_FR_SM_WRITE)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x1000n, PROT_READ);
    expect(recorded(h, 'SM_WRITE', { iova: 0x10000n, write: true }).stage).toBe('first-level');
  });
});

describe('nested (PGTT 011b): first-stage structures through the second stage', () => {
  it('translates through both stages', () => {
    const h = nested();
    expect(h.dma(0x5000n, { write: true })).toBe(Number((HPA + 0x1000n + 0x345000n) >> 12n));
  });

  it('74h NESTED_FS_ADDR_BEYOND_MGAW: the top table GPA is beyond the second stage (Linux "SM: First-level entry address beyond MGAW in Nested translation"; name invented)', () => {
    const h = nested();
    h.pasid(0, { pgtt: 3, flptptr: 1n << 50n });
    expect(recorded(h, 'NESTED_FS_ADDR_BEYOND_MGAW', { iova: 0x5000n }).stage).toBe('second-level (first-level table fetch)');
  });

  it('75h NESTED_FS_PML4E_READ: the second stage maps the top table write-only (Linux "SM: Read permission error in FL-PML4 entry in Nested translation"; name invented)', () => {
    const h = nested();
    pokeSlLeaf(h, 0x100000n, (v) => v & ~1n);
    recorded(h, 'NESTED_FS_PML4E_READ', { iova: 0x5000n });
  });

  it('76h NESTED_FS_PAGING_ENTRY_READ: the second stage maps a lower table write-only (Linux "SM: Read permission error in first-level paging entry in Nested translation"; name invented)', () => {
    const h = nested();
    pokeSlLeaf(h, 0x102000n, (v) => v & ~1n);
    recorded(h, 'NESTED_FS_PAGING_ENTRY_READ', { iova: 0x5000n });
  });

  it('77h NESTED_FS_PAGING_ENTRY_WRITE: setting A in a table the second stage maps read-only (Linux "SM: Write permission error in first-level paging entry in Nested translation"; name invented)', () => {
    const h = nested(0x101000n | 0x7n); // PML4E without A
    pokeSlLeaf(h, 0x100000n, (v) => v & ~2n);
    recorded(h, 'NESTED_FS_PAGING_ENTRY_WRITE', { iova: 0x5000n });
  });

  it('79h SS_PAGING_ENTRY_P met fetching a first-stage table is a second-stage fault (VT-d §7.1.3 79h)', () => {
    const h = nested(0x2000000n | 0x27n); // the PDPT at GPA 32 MiB: the second stage does not map it
    expect(recorded(h, 'SS_PAGING_ENTRY_P', { iova: 0x5000n }).stage).toBe('second-level (first-level table fetch)');
  });

  it('an SM_WRITE met in the second stage of the output is recorded, never turned into a page request (VT-d §7.1.3 85h)', () => {
    const h = nested();
    h.context(0x08, { pre: true });
    pokeSlLeaf(h, 0x345000n, (v) => v & ~2n);
    const f = recorded(h, 'SM_WRITE', { iova: 0x5000n, write: true });
    expect(f.stage).toBe('second-level');
    expect(f.pageRequest).toBeUndefined();
  });
});

describe('second stage (PGTT 010b)', () => {
  it('78h SS_PAGING_ENTRY_INV: a table below the top has no memory behind it (Linux "SM: Error attempting to access second-level paging entry"; name invented)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n);
    h.poke(h.sl, 0x10000n, 1, () => NO_MEMORY | 3n);
    recorded(h, 'SS_PAGING_ENTRY_INV', { iova: 0x10000n });
  });

  it('79h SS_PAGING_ENTRY_P: R and W both clear (Linux "SM: Read/Write permission error in second-level paging entry"; name invented)', () => {
    const h = new Hand();
    h.pasid(0, {});
    recorded(h, 'SS_PAGING_ENTRY_P', { iova: 0x10000n });
    recorded(h, 'SS_PAGING_ENTRY_P', { iova: 0x10000n, write: true, pasid: 0 });
  });

  it('7Ah SS_PAGING_ENTRY_RSVD (Linux "SM: Non-zero reserved field set in second-level paging entry"; QEMU VTD_SPTE_PAGE_L1_RSVD_MASK)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n);
    h.poke(h.sl, 0x10000n, 0, (v) => v | (1n << 62n));
    recorded(h, 'SS_PAGING_ENTRY_RSVD', { iova: 0x10000n });
  });

  it('7Bh PASID_ENTRY_SSPTPTR_INV: the top table has no memory behind it (Linux "SM: Invalid second-level page table pointer"; name invented)', () => {
    const h = new Hand();
    h.pasid(0, { slptptr: NO_MEMORY });
    recorded(h, 'PASID_ENTRY_SSPTPTR_INV', { iova: 0x10000n });
  });

  it('83h SM_ADDR_BEYOND_MGAW: input at or above 2^48 (Linux "SM: Address beyond the DMA hardware max"; name invented)', () => {
    const h = new Hand();
    h.pasid(0, {});
    recorded(h, 'SM_ADDR_BEYOND_MGAW', { iova: 1n << 48n });
  });

  it('85h SM_WRITE: a write to a read-only second-stage page (Linux "SM: No write permission for Write/AtomicOp request"; QEMU VTD_FR_SM_WRITE)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n, PROT_READ);
    expect(recorded(h, 'SM_WRITE', { iova: 0x10000n, write: true }).stage).toBe('second-level');
  });

  it('86h SM_READ: a read of a write-only second-stage page (Linux "SM: No read permission for Read/AtomicOp request"; name invented)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n);
    h.poke(h.sl, 0x10000n, 0, (v) => v & ~1n);
    recorded(h, 'SM_READ', { iova: 0x10000n });
    expect(h.dma(0x10000n, { write: true })).toBe(Number(HPA >> 12n));
  });

  it('87h SM_INTERRUPT_ADDR: the output is in 0xFEE00000–0xFEEFFFFF (Linux "SM: Invalid address-interrupt address"; QEMU VTD_FR_SM_INTERRUPT_ADDR)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, 0xfee00000n, 0x1000n);
    recorded(h, 'SM_INTERRUPT_ADDR', { iova: 0x10000n, write: true });
  });
});

describe('translated requests (PCIe AT = translated: VT-d §4.2.5, §9.4 DTE and EPTR; more in translated.test.ts)', () => {
  it('44h SM_DTE_ABS: the context entry does not enable the device-TLB (SCT.5; Linux "SM: DTE field in Context Entry is clear"; no QEMU symbol)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x40000000n, HPA, 0x1000n);
    const f = recorded(h, 'SM_DTE_ABS', { iova: HPA, translated: true, write: true });
    expect(f).toMatchObject({ stage: 'context', translated: true });
  });

  it('49h SM_EPTR_ABS: a translated request with PASID, and this unit has no PASID in translated requests, so EPTR is reserved 0 (SCT.10; Linux prints "Unknown" for 49h)', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    recorded(h, 'SM_EPTR_ABS', { iova: HPA, translated: true, pasid: 5 });
  });
});

describe('qualified faults and FPD (VT-d §7.1.3; QEMU vtd_qualified_faults)', () => {
  it('FPD in the context entry suppresses recording of a qualified fault, not of an access error', () => {
    const h = new Hand();
    h.context(0x08, { fpd: true });
    h.pasid(0, {});
    const f = h.dma(0x10000n) as UnitFault;
    expect(f).toMatchObject({ name: 'SS_PAGING_ENTRY_P', fpd: true, frcd: -1 });
    expect(isQualified(FR.SS_PAGING_ENTRY_P)).toBe(true);
    h.dirEntry(1, NO_MEMORY | 1n);
    expect(isQualified(FR.PASID_TABLE_ACCESS_ERR)).toBe(false);
    recorded(h, 'PASID_TABLE_ACCESS_ERR', { pasid: 64 });
  });
});

describe('the fault table', () => {
  it('holds only scalable-mode reasons (30h and up), each with a one-line meaning', () => {
    const all = faultReasons();
    for (const r of all) {
      expect(r.code).toBeGreaterThanOrEqual(0x30);
      expect(r.meaning.length).toBeGreaterThan(10);
      expect(r.meaning).not.toMatch(/\n/);
    }
    expect(all.map((r) => r.code)).toEqual([...new Set(all.map((r) => r.code))].sort((a, b) => a - b));
  });

  it('a blocked DMA carries the explanation into DmaFault, and the fault handler decodes FRCD with it (Linux dmar_fault_do_one)', () => {
    const { m, driver } = vtdMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'a' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    let err: unknown;
    try {
      dev.dmaWrite(0x9000n, bytes(1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DmaFault);
    const rec = (err as DmaFault).record;
    expect(rec).toMatchObject({ code: FR.SS_PAGING_ENTRY_P, name: 'SS_PAGING_ENTRY_P', explain: faultMeaning(FR.SS_PAGING_ENTRY_P) });
    expect((err as DmaFault).message).toContain(rec.explain!);
    driver.serviceFaults();
    expect(driver.faultLog.at(-1)).toMatchObject({ code: FR.SS_PAGING_ENTRY_P, name: 'SS_PAGING_ENTRY_P', explain: faultMeaning(FR.SS_PAGING_ENTRY_P) });
  });
});

describe('coverage (runs last: the tests of a file run in order)', () => {
  it('every reason in the table was driven above: none is listed that the unit cannot report', () => {
    const missing = faultReasons().filter((r) => !reached.has(r.code)).map((r) => r.name);
    expect(missing).toEqual([]);
  });
});
