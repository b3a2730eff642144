import { describe, expect, it } from 'vitest';
import { PROT_READ, type FaultRecord } from '@ioasid/core';
import {
  FR, decodeRegister, encodePasidEntry, GCMD_SRTP, GCMD_TE, GCMD_QIE, RTADDR_RTA, RTADDR_TTM, withField, FL_A, FL_US,
  type FaultName,
} from '../src/index.js';
import { Hand, NO_MEMORY } from './hand.js';

const HPA = 0x40000000n; // 1 GiB: plain host memory

// Every scalable-mode reason, with its FRCD register, is driven in sm-faults.test.ts.
function fault(r: unknown, name: FaultName): FaultRecord {
  expect(typeof r, 'expected a fault record').toBe('object');
  const f = r as FaultRecord;
  expect(f.name).toBe(name);
  expect(f.code).toBe(FR[name]);
  return f;
}

describe('walk: second level (PGTT = 010b)', () => {
  it('translates through root → context → PASID dir → PASID entry → second level', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x4000n);
    expect(h.dma(0x12000n)).toBe(Number((HPA + 0x2000n) >> 12n));
    h.mapSl(0x40000000n, 0x80000000n, 1n << 30n);
    expect(h.dma(0x40000000n + 0x12345000n)).toBe(Number((0x80000000n + 0x12345000n) >> 12n));
  });

  it('SS_PAGING_ENTRY_P / SM_WRITE: each level must be present and grant the access (QEMU vtd_iova_to_slpte; VT-d §7.1.3 79h, 85h)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n, PROT_READ);
    fault(h.dma(0x10000n, { write: true }), 'SM_WRITE');
    fault(h.dma(0x20000n), 'SS_PAGING_ENTRY_P');
    const f = fault(h.dma(0x20000n, { write: true }), 'SS_PAGING_ENTRY_P');
    expect(f).toMatchObject({ rid: 0x08, iova: 0x20000n, write: true, stage: 'second-level' });
  });

  it('SM_ADDR_BEYOND_MGAW: input at or above 2^48 (VT-d §7.1.3, 83h)', () => {
    const h = new Hand();
    h.pasid(0, {});
    fault(h.dma(1n << 48n), 'SM_ADDR_BEYOND_MGAW');
  });

  it('SS_PAGING_ENTRY_RSVD, SS_PAGING_ENTRY_INV and PASID_ENTRY_SSPTPTR_INV (VT-d §7.1.3, 7Ah, 78h, 7Bh)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, HPA, 0x1000n);
    h.poke(h.sl, 0x10000n, 0, (v) => v | (1n << 62n));
    fault(h.dma(0x10000n), 'SS_PAGING_ENTRY_RSVD');
    h.poke(h.sl, 0x10000n, 1, () => NO_MEMORY | 3n);
    fault(h.dma(0x10000n), 'SS_PAGING_ENTRY_INV');
    const h2 = new Hand();
    h2.pasid(0, { slptptr: NO_MEMORY });
    fault(h2.dma(0x10000n), 'PASID_ENTRY_SSPTPTR_INV');
  });

  it('SM_INTERRUPT_ADDR: output in 0xFEE00000-0xFEEFFFFF', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, 0xfee00000n, 0x1000n);
    fault(h.dma(0x10000n, { write: true }), 'SM_INTERRUPT_ADDR');
  });
});

describe('walk: root, context and PASID structures', () => {
  it('SM_ROOT_ENTRY_P, SM_CONTEXT_ENTRY_P (VT-d §7.1.3, 39h, 41h)', () => {
    const h = new Hand();
    fault(h.unit.translate({ rid: 0x0108, pasid: -1, iovaFrame: 0, write: false, privileged: false }), 'SM_ROOT_ENTRY_P');
    fault(h.unit.translate({ rid: 0x10, pasid: -1, iovaFrame: 0, write: false, privileged: false }), 'SM_CONTEXT_ENTRY_P');
    // devfn >= 128 uses the upper half of the root entry, which is not present
    fault(h.unit.translate({ rid: 0x88, pasid: -1, iovaFrame: 0, write: false, privileged: false }), 'SM_ROOT_ENTRY_P');
  });

  it('SM_ROOT_ENTRY_RSVD, SM_CONTEXT_ENTRY_RSVD, SM_CONTEXT_TABLE_INV (VT-d §7.1.3, 3Ah, 42h, 40h)', () => {
    const h = new Hand();
    h.rawRoot(0, [h.ctxTable | 1n | 0x20n, 0n]);
    fault(h.dma(0n), 'SM_ROOT_ENTRY_RSVD');
    h.rawRoot(0, [NO_MEMORY | 1n, 0n]);
    fault(h.dma(0n), 'SM_CONTEXT_TABLE_INV');
    const h2 = new Hand();
    h2.rawContext(0x08, [h2.dir | 1n | 0x20n, 0n, 0n, 0n]);
    fault(h2.dma(0n), 'SM_CONTEXT_ENTRY_RSVD');
    h2.rawContext(0x08, [h2.dir | 1n, 0n, 0n, 1n]);
    fault(h2.dma(0n), 'SM_CONTEXT_ENTRY_RSVD');
  });

  it('SM_ROOT_TABLE_INV and RTADDR_INV_TTM come from the root-table register (VT-d §7.1.3, 38h, 31h)', () => {
    const h = new Hand();
    h.unit.write('RTADDR_REG', withField(withField(0n, RTADDR_RTA, NO_MEMORY >> 12n), RTADDR_TTM, 1));
    h.unit.write('GCMD_REG', BigInt(GCMD_SRTP | GCMD_QIE | GCMD_TE));
    fault(h.dma(0n), 'SM_ROOT_TABLE_INV');
    h.unit.write('RTADDR_REG', withField(0n, RTADDR_RTA, h.root >> 12n)); // TTM 00b: legacy mode, not modelled
    h.unit.write('GCMD_REG', BigInt(GCMD_SRTP | GCMD_QIE | GCMD_TE));
    fault(h.dma(0n), 'RTADDR_INV_TTM');
  });

  it('PASID_DIR_ACCESS_ERR, PASID_DIR_ENTRY_P, PASID_TABLE_ACCESS_ERR, PASID_ENTRY_P', () => {
    const h = new Hand();
    fault(h.dma(0n), 'PASID_ENTRY_P');
    fault(h.dma(0n, { pasid: 64 }), 'PASID_DIR_ENTRY_P');
    h.dirEntry(1, NO_MEMORY | 1n);
    fault(h.dma(0n, { pasid: 64 }), 'PASID_TABLE_ACCESS_ERR');
    h.context(0x08, { pasidDirPtr: NO_MEMORY });
    fault(h.dma(0n), 'PASID_ENTRY_P'); // the context cache still holds the old entry
    h.invalidate({ type: 'cc', gran: 1, did: 0, sid: 0, fm: 0 });
    fault(h.dma(0n), 'PASID_DIR_ACCESS_ERR');
  });

  it('PASID_TABLE_ENTRY_INV: PGTT reserved, AW not in SAGAW, FLPM not supported', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 5 });
    fault(h.dma(0n), 'PASID_TABLE_ENTRY_INV');
    h.pasid(0, { aw: 3 }); // 5-level second level: SAGAW offers 4-level only
    fault(h.dma(0n), 'PASID_TABLE_ENTRY_INV');
    h.pasid(0, { pgtt: 1, flpm: 2 });
    fault(h.dma(0n), 'PASID_TABLE_ENTRY_INV');
  });

  it('a request with PASID uses that PASID entry, one without uses RID_PASID', () => {
    const h = new Hand();
    h.context(0x08, { ridPasid: 5 });
    h.pasid(5, {});
    h.mapSl(0n, HPA, 0x1000n);
    expect(h.dma(0n)).toBe(Number(HPA >> 12n));
    fault(h.dma(0n, { pasid: 6 }), 'PASID_ENTRY_P');
    expect(h.dma(0n, { pasid: 5 })).toBe(Number(HPA >> 12n));
  });
});

describe('walk: first level (PGTT = 001b) and nested (011b)', () => {
  it('first level only: translates and checks P, U/S, R/W, reserved bits, canonical input', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x2000n, PROT_READ);
    expect(h.dma(0x11000n)).toBe(Number((HPA + 0x1000n) >> 12n));
    fault(h.dma(0x11000n, { write: true }), 'SM_WRITE');
    fault(h.dma(0x20000n), 'FS_PAGING_ENTRY_P');
    fault(h.dma(1n << 47n), 'FS_NON_CANONICAL');
    h.poke(h.fl, 0x10000n, 0, (v) => v & ~BigInt(FL_US));
    fault(h.dma(0x10000n), 'FS_PAGING_ENTRY_US');
    h.poke(h.fl, 0x10000n, 3, (v) => v | 0x80n);
    fault(h.dma(0x10000n), 'FS_PAGING_ENTRY_RSVD');
    h.poke(h.fl, 0x10000n, 3, (v) => (v & 0xfffn & ~0x80n) | NO_MEMORY);
    fault(h.dma(0x10000n), 'FS_PAGING_ENTRY_INV');
    const h2 = new Hand();
    h2.pasid(0, { pgtt: 1, flptptr: NO_MEMORY });
    fault(h2.dma(0n), 'PASID_ENTRY_FSPTPTR_INV');
  });

  it('canonical upper-half addresses translate (sign-extended bit 47)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    const high = 0xffff800000000000n;
    h.mapFl(high & ((1n << 48n) - 1n), HPA, 0x1000n);
    expect(h.dma(high)).toBe(Number(HPA >> 12n));
  });

  it('privileged requests need SRE; supervisor pages are then reachable', () => {
    const h = new Hand();
    h.pasid(1, { pgtt: 1 });
    h.mapFl(0x10000n, HPA, 0x1000n, PROT_READ);
    h.poke(h.fl, 0x10000n, 0, (v) => v & ~BigInt(FL_US));
    fault(h.dma(0x10000n, { pasid: 1, privileged: true }), 'SM_SRE_ABS'); // VT-d §7.1.3, 5Dh
    h.pasid(1, { pgtt: 1, sre: true, did: 2 });
    h.invalidate({ type: 'pc', gran: 3, did: 0, pasid: 0 });
    expect(h.dma(0x10000n, { pasid: 1, privileged: true })).toBe(Number(HPA >> 12n));
    // WPE = 0: a supervisor write ignores R/W
    expect(h.dma(0x10000n, { pasid: 1, privileged: true, write: true })).toBe(Number(HPA >> 12n));
  });

  it('nested: first-level tables and output are guest-physical, translated by the second level', () => {
    const h = new Hand();
    // Guest RAM: GPA [0, 16 MiB) at HPA 1 GiB. The guest's first-level table lives in it.
    h.mapSl(0n, HPA, 16n << 20n);
    const gpaRoot = 0x100000n;
    // Build a first-level table by hand at GPA 0x100000.. (HPA = HPA + gpa): PML4E → PDPE → PDE → PTE
    const w = (gpa: bigint, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      h.host.write(Number(HPA + gpa), b);
    };
    const T = 0x27n; // P | RW | US | A
    w(gpaRoot, 0x101000n | T);
    w(0x101000n, 0x102000n | T);
    w(0x102000n, 0x103000n | T);
    w(0x103000n + 5n * 8n, 0x345000n | 0x67n); // GVA 0x5000 → GPA 0x345000, writable
    w(0x103000n + 6n * 8n, 0x2000000n | 0x67n); // GVA 0x6000 → GPA 32 MiB: not mapped by the second level
    w(0x103000n + 7n * 8n, 0x346000n | 0x45n); // GVA 0x7000: A clear, read-only
    h.pasid(0, { pgtt: 3, flptptr: gpaRoot });
    expect(h.dma(0x5000n, { write: true })).toBe(Number((HPA + 0x345000n) >> 12n));
    const f = fault(h.dma(0x6000n), 'SS_PAGING_ENTRY_P');
    expect(f.stage).toBe('second-level');
    // A/D: the walk sets A in the entry it used (the entry lives in guest RAM)
    expect(h.dma(0x7000n)).toBe(Number((HPA + 0x346000n) >> 12n));
    expect(new DataView(h.host.read(Number(HPA + 0x103000n + 7n * 8n), 8).buffer).getBigUint64(0, true) & BigInt(FL_A)).toBe(BigInt(FL_A));
    // A first-level table pointer outside what the second level maps
    w(0x103000n + 8n * 8n, 0n);
    w(0x102000n + 1n * 8n, 0x3000000n | T); // GVA 2 MiB.. → table at GPA 48 MiB, unmapped
    // The table's GPA has no present second-stage entry (VT-d §7.1.3, 79h, met fetching the table).
    const f2 = fault(h.dma(0x200000n), 'SS_PAGING_ENTRY_P');
    expect(f2.stage).toBe('second-level (first-level table fetch)');
    h.pasid(0, { pgtt: 3, flptptr: 0x4000000n, did: 3 });
    expect(h.dma(0x5000n)).toBe(Number((HPA + 0x345000n) >> 12n)); // the PASID cache still holds the old entry
    h.invalidate({ type: 'pc', gran: 3, did: 0, pasid: 0 });
    const f3 = fault(h.dma(0x5000n), 'SS_PAGING_ENTRY_P');
    expect(f3).toMatchObject({ stage: 'second-level (first-level table fetch)', level: 4 });
  });

  it('NESTED_FS_PAGING_ENTRY_WRITE: setting A needs second-level write access to the table page (VT-d §7.1.3, 77h)', () => {
    const h = new Hand();
    h.mapSl(0n, HPA, 0x100000n, PROT_READ); // the guest table page is read-only in the second level
    h.mapSl(0x100000n, HPA + 0x100000n, 0x100000n);
    const w = (gpa: bigint, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      h.host.write(Number(HPA + gpa), b);
    };
    w(0x1000n, 0x2000n | 0x7n); // PML4E without A
    h.pasid(0, { pgtt: 3, flptptr: 0x1000n });
    fault(h.dma(0n), 'NESTED_FS_PAGING_ENTRY_WRITE');
  });
});

describe('fault recording registers', () => {
  it('records SID, reason, address, type and PASID in FRCD; FSTS shows PPF and the index', () => {
    const h = new Hand();
    h.pasid(0, {});
    const f = fault(h.dma(0x1234000n, { write: true, pasid: 0 }), 'SS_PAGING_ENTRY_P');
    const regs = h.unit.registers();
    const rec = decodeRegister('FRCD_REG[0]', regs['FRCD_REG[0]']);
    expect(rec).toMatchObject({ F: true, T: false, FR: FR.SS_PAGING_ENTRY_P, SID: 0x08, FI: 0x1234000n, PP: true, PV: 0 });
    expect(decodeRegister('FSTS_REG', regs.FSTS_REG)).toMatchObject({ PPF: true, FRI: 0, PFO: false });
    expect(f.frcd).toBe(0);
    fault(h.dma(0x2000n), 'SS_PAGING_ENTRY_P');
    expect(decodeRegister('FRCD_REG[1]', h.unit.registers()['FRCD_REG[1]'])).toMatchObject({ F: true, T: true, FR: FR.SS_PAGING_ENTRY_P, PP: false });
    h.unit.write('FRCD_REG[0]', 1n << 127n);
    h.unit.write('FRCD_REG[1]', 1n << 127n);
    expect(decodeRegister('FSTS_REG', h.unit.registers().FSTS_REG).PPF).toBe(false);
  });

  it('overflows into PFO when every register is still pending', () => {
    const h = new Hand();
    for (let i = 0; i < 8; i++) h.dma(BigInt(i) << 12n);
    const f = h.dma(0x9000n) as FaultRecord;
    expect(f.frcd).toBe(-1);
    expect(decodeRegister('FSTS_REG', h.unit.registers().FSTS_REG).PFO).toBe(true);
  });

  it('FPD suppresses recording of qualified faults, not the fault itself', () => {
    const h = new Hand();
    h.pasid(0, { fpd: true });
    const f = fault(h.dma(0x5000n), 'SS_PAGING_ENTRY_P');
    expect(f.fpd).toBe(true);
    expect(decodeRegister('FSTS_REG', h.unit.registers().FSTS_REG).PPF).toBe(false);
  });
});

describe('caches and the invalidation queue', () => {
  it('IOTLB keeps a translation after the table changes, until an IOTLB invalidation', () => {
    const h = new Hand();
    h.pasid(0, { did: 7 });
    h.mapSl(0x10000n, HPA, 0x1000n);
    expect(h.dma(0x10000n)).toBe(Number(HPA >> 12n));
    h.sl.unmap(0x10, 1);
    expect(h.dma(0x10000n)).toBe(Number(HPA >> 12n)); // stale
    h.invalidate({ type: 'iotlb', gran: 3, did: 8, addr: 0x10000n, am: 0, ih: false, dr: false, dw: false });
    expect(h.dma(0x10000n)).toBe(Number(HPA >> 12n)); // other DID: still stale
    h.invalidate({ type: 'piotlb', gran: 2, did: 7, pasid: 0, addr: 0n, am: 0, ih: false });
    expect(h.dma(0x10000n)).toBe(Number(HPA >> 12n)); // P_IOTLB does not touch second-level-only entries
    h.invalidate({ type: 'iotlb', gran: 3, did: 7, addr: 0x10000n, am: 0, ih: false, dr: false, dw: false });
    fault(h.dma(0x10000n), 'SS_PAGING_ENTRY_P');
    expect(h.unit.registers().ICS_REG & 1n).toBe(1n);
  });

  it('page-selective with an address mask covers 2^AM pages', () => {
    const h = new Hand();
    h.pasid(0, { did: 7 });
    h.mapSl(0n, HPA, 0x10000n);
    for (let i = 0n; i < 16n; i++) h.dma(i << 12n);
    h.sl.unmap(0, 16);
    h.invalidate({ type: 'iotlb', gran: 3, did: 7, addr: 0x4000n, am: 2, ih: false, dr: false, dw: false });
    for (let i = 0n; i < 16n; i++) {
      const r = h.dma(i << 12n);
      if (i >= 4n && i < 8n) expect(typeof r).toBe('object');
      else expect(r).toBe(Number((HPA + (i << 12n)) >> 12n));
    }
  });

  it('first-level entries leave only through PASID-based IOTLB invalidation', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1, did: 9 });
    h.mapFl(0x10000n, HPA, 0x1000n);
    h.dma(0x10000n);
    h.fl.unmap(0x10, 1);
    h.invalidate({ type: 'iotlb', gran: 2, did: 9, addr: 0n, am: 0, ih: false, dr: false, dw: false });
    expect(h.dma(0x10000n)).toBe(Number(HPA >> 12n));
    h.invalidate({ type: 'piotlb', gran: 3, did: 9, pasid: 0, addr: 0x10000n, am: 0, ih: false });
    fault(h.dma(0x10000n), 'FS_PAGING_ENTRY_P');
  });

  it('PASID cache and context cache keep entries until their invalidation', () => {
    const h = new Hand();
    h.pasid(0, { did: 4 });
    h.mapSl(0n, HPA, 0x1000n);
    h.dma(0n);
    h.rawPasid(0, new Array(8).fill(0n));
    h.invalidate({ type: 'iotlb', gran: 1, did: 0, addr: 0n, am: 0, ih: false, dr: false, dw: false });
    expect(h.dma(0n)).toBe(Number(HPA >> 12n)); // PASID entry still cached
    h.invalidate({ type: 'pc', gran: 1, did: 4, pasid: 0 });
    fault(h.dma(0n), 'PASID_ENTRY_P');
    h.pasid(0, { did: 4 });
    h.rawContext(0x08, [0n, 0n, 0n, 0n]);
    expect(h.dma(0n)).toBe(Number(HPA >> 12n)); // context entry cached, PASID entry refetched
    h.invalidate({ type: 'cc', gran: 3, did: 0, sid: 0x08, fm: 0 });
    fault(h.dma(0n), 'SM_CONTEXT_ENTRY_P');
  });

  it('device-TLB answers for a DTE context until a device-TLB invalidation', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    h.pasid(0, { did: 4 });
    h.mapSl(0n, HPA, 0x2000n);
    h.dma(0n);
    h.dma(0x1000n);
    h.sl.unmap(0, 2);
    h.invalidate({ type: 'iotlb', gran: 1, did: 0, addr: 0n, am: 0, ih: false, dr: false, dw: false });
    expect(h.dma(0n)).toBe(Number(HPA >> 12n)); // the device's ATC
    h.invalidate({ type: 'devtlb', sid: 0x08, pfsid: 0x08, qdep: 0, addr: 0n, s: false });
    fault(h.dma(0n), 'SS_PAGING_ENTRY_P');
    expect(h.dma(0x1000n)).toBe(Number((HPA + 0x1000n) >> 12n)); // only the first page was invalidated
  });

  it('an unknown descriptor stops the queue with FSTS.IQE', () => {
    const h = new Hand();
    const b = new Uint8Array(32);
    b[0] = 0xf;
    h.host.write(h.iq * 4096, b);
    h.unit.write('IQT_REG', 0x20n);
    expect(decodeRegister('FSTS_REG', h.unit.registers().FSTS_REG).IQE).toBe(true);
    expect(h.unit.registers().IQH_REG).toBe(0n);
  });

  it('encodes what it reads: a hand-built nested PASID entry decodes to the walk it drives', () => {
    const q = encodePasidEntry({ p: true, fpd: false, aw: 2, pgtt: 3, slptptr: 0x1000n, did: 1, pwsnp: false, pgsnp: false, sre: false, wpe: false, eafe: false, flpm: 0, flptptr: 0x2000n });
    expect(q[0] & 0x1c0n).toBe(3n << 6n);
  });
});
