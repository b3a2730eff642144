import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { contiguousRuns, EntryKind, PROT_READ, PROT_WRITE, RadixPageTable, type PtFormat } from '@ioasid/core';
import { FirstLevelFormat, SecondLevelFormat } from '../src/index.js';
import { newHost } from './helpers.js';

/** Writes one entry with a format function and returns the 64-bit value stored. */
function entry(write: (w: Uint32Array, i: number) => void): bigint {
  const w = new Uint32Array(2);
  write(w, 0);
  return (BigInt(w[1]) << 32n) | BigInt(w[0]);
}

function halves(v: bigint): [number, number] {
  return [Number(v & 0xffffffffn), Number(v >> 32n)];
}

function decode(fmt: PtFormat, v: bigint, level: number) {
  const [lo, hi] = halves(v);
  return fmt.decode(lo, hi, level);
}

const sl4 = new SecondLevelFormat({ levels: 4 });
const fl4 = new FirstLevelFormat({ levels: 4 });

describe('second-level entry: golden vectors', () => {
  // Linux drivers/iommu/intel/iommu.h DMA_PTE_READ = BIT(0), DMA_PTE_WRITE = BIT(1); QEMU VTD_SL_R / VTD_SL_W.
  it('4 KiB leaf read+write: address bits 51:12, R bit 0, W bit 1', () => {
    expect(entry((w, i) => sl4.setLeaf(w, i, 0, 0x12345, PROT_READ | PROT_WRITE))).toBe(0x12345003n);
    expect(entry((w, i) => sl4.setLeaf(w, i, 0, 0x12345, PROT_READ))).toBe(0x12345001n);
    expect(entry((w, i) => sl4.setLeaf(w, i, 0, 0x12345, PROT_WRITE))).toBe(0x12345002n);
  });

  it('address above 4 GiB lands in the high word (bits 51:32)', () => {
    // frame 0x3_0000_0001 = byte address 0x3000_0000_1000
    expect(entry((w, i) => sl4.setLeaf(w, i, 0, 0x300000001, PROT_READ))).toBe(0x300000001001n);
  });

  // Linux DMA_PTE_LARGE_PAGE = BIT(7); QEMU VTD_PT_PAGE_SIZE_MASK (1ULL << 7).
  it('2 MiB and 1 GiB leaves set PS (bit 7)', () => {
    expect(entry((w, i) => sl4.setLeaf(w, i, 1, 0x200, PROT_READ))).toBe(0x200081n);
    expect(entry((w, i) => sl4.setLeaf(w, i, 2, 0x40000, PROT_WRITE))).toBe(0x40000082n);
  });

  it('non-leaf entries carry R|W and the child table address (Linux pfn_to_dma_pte non-leaf: DMA_PTE_READ | DMA_PTE_WRITE)', () => {
    expect(entry((w, i) => sl4.setTable(w, i, 3, 0xabcde))).toBe(0xabcde003n);
  });

  // Linux DMA_PTE_SNP = BIT(11); QEMU VTD_SPTE_SNP 0x800.
  it('decodes SNP (bit 11), TM (bit 62) and the address', () => {
    const d = decode(sl4, 0x12345803n, 0);
    expect(d.kind).toBe('leaf');
    expect(d.fields.SNP).toBe(true);
    expect(d.addr).toBe(0x12345000n);
    expect(decode(sl4, 0x12345003n | (1n << 62n), 0).fields.TM).toBe(true);
  });

  // QEMU VTD_SPTE_PAGE_L*_RSVD_MASK / VTD_SPTE_LPAGE_L*_RSVD_MASK with snoop control, VTD_SL_IGN_COM 0xbff0000000000000.
  it('reserved bits make an entry invalid', () => {
    expect(decode(sl4, 0x12345003n | (1n << 62n), 0).kind).toBe('invalid'); // TM
    expect(decode(sl4, 0x12345003n | (1n << 48n), 0).kind).toBe('invalid'); // above HAW 48
    expect(decode(sl4, 0x12345003n | (1n << 51n), 0).kind).toBe('invalid');
    expect(decode(sl4, 0x12345003n | (1n << 63n), 0).kind).toBe('leaf'); // bit 63 ignored
    expect(decode(sl4, 0x12345003n | (1n << 55n), 0).kind).toBe('leaf'); // bits 61:52 ignored
    expect(decode(sl4, 0xabcde083n, 3).kind).toBe('invalid'); // PS in a PML4E (0x880 mask)
    expect(decode(sl4, 0xabcde803n, 2).kind).toBe('invalid'); // SNP in a non-leaf
    expect(decode(sl4, 0x201083n, 1).kind).toBe('invalid'); // bit 12 below a 2 MiB page (0x1ff800)
    expect(decode(sl4, 0x40100083n, 2).kind).toBe('invalid'); // bit 20 below a 1 GiB page (0x3ffff800)
    expect(decode(sl4, 0x200883n, 1).kind).toBe('leaf'); // SNP allowed in a large leaf with ECAP.SC
  });

  it('PS where SLLPS lacks the size is reserved', () => {
    const no1g = new SecondLevelFormat({ levels: 4, sllps: 0b01 });
    expect(no1g.leafAllowed(2)).toBe(false);
    expect(decode(no1g, 0x40000083n, 2).kind).toBe('invalid');
  });

  it('an entry with neither R nor W is not present (Linux dma_pte_present)', () => {
    const w = new Uint32Array([0x12345000, 0]);
    expect(sl4.kind(w, 0, 0)).toBe(EntryKind.Empty);
  });
});

describe('first-level entry: golden vectors', () => {
  // Linux DMA_FL_PTE_PRESENT BIT(0), DMA_PTE_WRITE BIT(1) (R/W), DMA_FL_PTE_US BIT(2), DMA_FL_PTE_ACCESS BIT(5),
  // DMA_FL_PTE_DIRTY BIT(6); QEMU VTD_FL_P, VTD_FL_RW, VTD_FL_US, VTD_FL_A 0x20, VTD_FL_D 0x40.
  it('4 KiB leaf: P, R/W, U/S, A and D for a writable page', () => {
    expect(entry((w, i) => fl4.setLeaf(w, i, 0, 0x12345, PROT_READ | PROT_WRITE))).toBe(0x12345067n);
    expect(entry((w, i) => fl4.setLeaf(w, i, 0, 0x12345, PROT_READ))).toBe(0x12345025n);
  });

  it('large leaves set PS (bit 7)', () => {
    expect(entry((w, i) => fl4.setLeaf(w, i, 1, 0x200, PROT_READ | PROT_WRITE))).toBe(0x2000e7n);
    expect(entry((w, i) => fl4.setLeaf(w, i, 2, 0x40000, PROT_READ))).toBe(0x400000a5n);
  });

  it('directory entries: P, R/W, U/S, A (Linux first-level non-leaf: DMA_PTE_READ|WRITE|DMA_FL_PTE_US|ACCESS)', () => {
    expect(entry((w, i) => fl4.setTable(w, i, 3, 0xabcde))).toBe(0xabcde027n);
  });

  it('decodes PWT, PCD, G, PAT and XD (IA-32e paging bits 3, 4, 8, 7/12, 63)', () => {
    const d = decode(fl4, 0x12345000n | 0x1n | 0x8n | 0x10n | 0x80n | 0x100n | (1n << 63n), 0);
    expect(d.fields).toMatchObject({ P: true, PWT: true, PCD: true, PAT: true, G: true, XD: true });
    expect(d.kind).toBe('leaf');
    const big = decode(fl4, 0x200000n | 0x81n | 0x1000n, 1);
    expect(big.fields.PAT).toBe(true);
    expect(big.addr).toBe(0x200000n);
  });

  // QEMU VTD_FPTE_PAGE_L4_RSVD_MASK 0x80, VTD_FPTE_LPAGE_L2_RSVD_MASK 0x1fe000, VTD_FPTE_LPAGE_L3_RSVD_MASK 0x3fffe000,
  // VTD_FS_UPPER_IGNORED 0xfff0000000000000.
  it('reserved bits make an entry invalid', () => {
    expect(decode(fl4, 0xabcde0a7n, 3).kind).toBe('invalid'); // PS in PML4E
    expect(decode(fl4, 0x202081n, 1).kind).toBe('invalid'); // bit 13 below a 2 MiB page
    expect(decode(fl4, 0x40002081n, 2).kind).toBe('invalid'); // bit 13 below a 1 GiB page
    expect(decode(fl4, 0x12345001n | (1n << 50n), 0).kind).toBe('invalid'); // above HAW
    expect(decode(fl4, 0x12345001n | (1n << 60n), 0).kind).toBe('leaf'); // ignored
    const no1g = new FirstLevelFormat({ levels: 4, fl1gp: false });
    expect(decode(no1g, 0x40000081n, 2).kind).toBe('invalid');
  });
});

function roundTrip(fmt: PtFormat, maxFrame: number) {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 0, max: maxFrame }), n: fc.integer({ min: 1, max: 1200 }), out: fc.integer({ min: 0x100000, max: 0x3ffffff }) }), {
        maxLength: 6,
      }),
      (maps) => {
        const host = newHost();
        const t = RadixPageTable.create(host, fmt);
        const done: { at: number; n: number; out: number }[] = [];
        for (const m of maps) {
          if (done.some((d) => m.at < d.at + d.n && d.at < m.at + m.n)) continue;
          t.map(m.at, m.n, contiguousRuns(m.out, m.n), PROT_READ | PROT_WRITE);
          done.push(m);
        }
        for (const d of done) {
          for (const k of [0, d.n - 1, d.n >> 1]) expect(t.lookup(d.at + k)?.frame).toBe(d.out + k);
        }
        for (const d of done) t.unmap(d.at, d.n);
        expect(t.tableCount).toBe(1);
      },
    ),
    { numRuns: 40 },
  );
}

describe('formats in the one radix engine', () => {
  it('second level: random maps read back and unmap to an empty table', () => roundTrip(sl4, 1 << 26));
  it('first level: random maps read back and unmap to an empty table', () => roundTrip(fl4, 1 << 26));
  it('picks 2 MiB and 1 GiB leaves for aligned contiguous runs', () => {
    const host = newHost();
    const t = RadixPageTable.create(host, sl4);
    t.map(0x40000, 0x40000 + 512, contiguousRuns(0x80000, 0x40000 + 512), PROT_READ);
    expect(t.lookup(0x40000)?.shift).toBe(30);
    expect(t.lookup(0x80000)?.shift).toBe(21);
  });
});
