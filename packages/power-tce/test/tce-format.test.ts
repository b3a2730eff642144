import { describe, expect, it } from 'vitest';
import { EntryKind, PROT_READ, PROT_WRITE, RadixPageTable, contiguousRuns } from '@ioasid/core';
import { TCE_ADDR_MASK, TCE_PCI_READ, TCE_PCI_WRITE, TceFormat, decodeTce, encodeTce, tceBytes, tcePerms } from '../src/index.js';
import { bytes, newHost, readBe64 } from './helpers.js';

const fmt4k = new TceFormat({ pageShift: 12, levels: 1, levelBits: 9 });

function entry(fmt: TceFormat, write: (w: Uint32Array, i: number) => void): { w: Uint32Array; raw: Uint8Array } {
  const w = new Uint32Array(2);
  write(w, 0);
  return { w, raw: new Uint8Array(w.buffer) };
}

describe('TCE bits (Linux arch/powerpc/include/asm/tce.h)', () => {
  it('TCE_PCI_READ = 0x1, TCE_PCI_WRITE = 0x2, RPN field = TCE_RPN_MASK 0xfffffffff << TCE_RPN_SHIFT 12', () => {
    expect(TCE_PCI_READ).toBe(0x1);
    expect(TCE_PCI_WRITE).toBe(0x2);
    expect(TCE_ADDR_MASK).toBe(0x000ffffffffff000n);
  });

  it('iommu_direction_to_tce_perm + pnv_tce_build: WRITE always carries READ', () => {
    expect(tcePerms(PROT_READ)).toBe(TCE_PCI_READ); // DMA_TO_DEVICE
    expect(tcePerms(PROT_WRITE)).toBe(TCE_PCI_READ | TCE_PCI_WRITE); // DMA_FROM_DEVICE, READ added
    expect(tcePerms(PROT_READ | PROT_WRITE)).toBe(TCE_PCI_READ | TCE_PCI_WRITE); // DMA_BIDIRECTIONAL
    expect(tcePerms(0)).toBe(0);
  });
});

describe('golden TCE vectors (Linux pci-ioda-tce.c pnv_tce_build: (rpn << page_shift) | perms, cpu_to_be64)', () => {
  it('4 KiB page 0x123456000 bidirectional = 0x0000000123456003, stored 00 00 00 01 23 45 60 03', () => {
    const { w, raw } = entry(fmt4k, (w, i) => fmt4k.setLeaf(w, i, 0, 0x123456, PROT_READ | PROT_WRITE));
    expect(raw).toEqual(bytes(0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x60, 0x03));
    expect(encodeTce(0x123456000n, 3)).toBe(0x0000000123456003n);
    expect(tceBytes(0x0000000123456003n)).toEqual(raw);
    expect(fmt4k.kind(w, 0, 0)).toBe(EntryKind.Leaf);
    expect(fmt4k.outFrame(w, 0, 0)).toBe(0x123456);
    expect(fmt4k.perms(w, 0)).toBe(3);
  });

  it('read-only (DMA_TO_DEVICE) page 0x7fff0000 = 0x000000007fff0001', () => {
    const { raw } = entry(fmt4k, (w, i) => fmt4k.setLeaf(w, i, 0, 0x7fff0, PROT_READ));
    expect(raw).toEqual(bytes(0x00, 0x00, 0x00, 0x00, 0x7f, 0xff, 0x00, 0x01));
  });

  it('write-only request (DMA_FROM_DEVICE) gets READ|WRITE: page 0x3ffffffff000 = 0x00003ffffffff003', () => {
    const { raw } = entry(fmt4k, (w, i) => fmt4k.setLeaf(w, i, 0, 0x3ffffffff, PROT_WRITE));
    expect(raw).toEqual(bytes(0x00, 0x00, 0x3f, 0xff, 0xff, 0xff, 0xf0, 0x03));
  });

  it('64 KiB IO page 0x4000010000 = 0x0000004000010003 (rpn 0x400001 << 16)', () => {
    const fmt = new TceFormat({ pageShift: 16, levels: 1, levelBits: 9 });
    const { w, raw } = entry(fmt, (w, i) => fmt.setLeaf(w, i, 0, 0x4000010, PROT_READ | PROT_WRITE));
    expect(raw).toEqual(bytes(0x00, 0x00, 0x00, 0x40, 0x00, 0x01, 0x00, 0x03));
    const d = fmt.decode(0x00010003, 0x00000040, 0);
    expect(d).toMatchObject({ kind: 'leaf', addr: 0x4000010000n, fields: { read: true, write: true, rpn: 0x400001n } });
    expect(fmt.outFrame(w, 0, 0)).toBe(0x4000010);
  });

  it('indirect TCE = next level address | READ | WRITE (pnv_pci_ioda2_table_do_alloc_pages): 0x2000000 -> 0x0000000002000003', () => {
    const fmt = new TceFormat({ pageShift: 12, levels: 2, levelBits: 9 });
    const { w, raw } = entry(fmt, (w, i) => fmt.setTable(w, i, 1, 0x2000));
    expect(raw).toEqual(bytes(0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x03));
    expect(fmt.kind(w, 0, 1)).toBe(EntryKind.Table);
    expect(fmt.outFrame(w, 0, 1)).toBe(0x2000);
    expect(fmt.decode(0x02000003, 0, 1)).toMatchObject({ kind: 'table', addr: 0x2000000n });
  });

  it('an entry without READ and WRITE is not present; pnv_tce_free writes 0', () => {
    const { w } = entry(fmt4k, (w, i) => fmt4k.setLeaf(w, i, 0, 0x1234, PROT_READ));
    fmt4k.clear(w, 0);
    expect([...w]).toEqual([0, 0]);
    expect(fmt4k.kind(w, 0, 0)).toBe(EntryKind.Empty);
    expect(fmt4k.decode(0, 0, 0).kind).toBe('empty');
    expect(fmt4k.decode(0x1234000, 0, 0).kind).toBe('invalid');
  });

  it('decodeTce splits address and permission bits', () => {
    expect(decodeTce(0x0000000123456001n)).toEqual({ addr: 0x123456000n, read: true, write: false, valid: true });
    expect(decodeTce(0n).valid).toBe(false);
  });
});

describe('TCE tables in host memory (big-endian, naturally aligned levels)', () => {
  it('a mapped leaf reads back big-endian through hostMemory.read', () => {
    const host = newHost();
    const t = RadixPageTable.create(host, fmt4k);
    t.map(5, 1, contiguousRuns(0xabcde, 1), PROT_READ | PROT_WRITE);
    const pa = t.rootAddr + 5n * 8n;
    expect(host.read(pa, 8)).toEqual(bytes(0, 0, 0, 0, 0xab, 0xcd, 0xe0, 0x03));
    expect(readBe64(host, pa)).toBe(0xabcde003n);
  });

  it('multi-frame levels are naturally aligned to their own size', () => {
    const host = newHost();
    host.allocFrame(); // disturb the bump allocator
    const fmt = new TceFormat({ pageShift: 12, levels: 2, levelBits: 12 }); // 32 KiB levels (8 frames)
    const t = RadixPageTable.create(host, fmt);
    expect(Number(t.rootAddr) % 0x8000).toBe(0);
    t.map(0x123456, 1, contiguousRuns(0x5000, 1), PROT_READ);
    const top = readBe64(host, t.rootAddr + BigInt((0x123456 >> 12) * 8));
    expect(top & 3n).toBe(3n);
    const l0 = top & ~0xfffn;
    expect(l0 % 0x8000n).toBe(0n);
    expect(readBe64(host, l0 + BigInt((0x123456 & 0xfff) * 8))).toBe(0x5000001n);
  });
});
