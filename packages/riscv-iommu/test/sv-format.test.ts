/**
 * The Sv formats on core's engine: geometry (privileged spec §4.4–4.6 Sv39/Sv48/Sv57, §9.5.1
 * Sv39x4/Sv48x4/Sv57x4: the G-stage root is 2^11 entries, 16 KiB, aligned to 16 KiB) and the
 * bits the engine writes, read back from memory.
 */
import { describe, expect, it } from 'vitest';
import { AllocInjector, HostMemory, PROT_READ, PROT_WRITE, RadixPageTable, contiguousRuns, inputBits, tableBytes } from '@ioasid/core';
import { svFormat, decodeSvPte } from '../src/index.js';

describe('geometry', () => {
  it.each([
    [39, false, 3, 39, 4096],
    [48, false, 4, 48, 4096],
    [57, false, 5, 57, 4096],
    [39, true, 3, 41, 16384],
    [48, true, 4, 50, 16384],
    [57, true, 5, 59, 16384],
  ] as const)('Sv%i x4=%s: %i levels, %i input bits, root %i bytes', (mode, x4, levels, bits, root) => {
    const f = svFormat(mode, x4);
    expect(f.levels).toBe(levels);
    expect(inputBits(f)).toBe(bits);
    expect(tableBytes(f, f.levels - 1)).toBe(root);
    expect(f.outputBits).toBe(56);
  });
});

describe('entries the engine writes (Sv39x4, 2 MiB and 4 KiB maps)', () => {
  it('the x4 root is 16 KiB aligned; leaves carry V R W U A D, pointers only V', () => {
    const mem = new HostMemory(new AllocInjector(), 256n << 20n);
    mem.allocFrames(1, 1); // misalign the next free frame
    const pt = RadixPageTable.create(mem, svFormat(39, true));
    expect(pt.root % 4).toBe(0);
    const iova = 0x1_0000_0000n >> 12n; // 4 GiB: index 4 at the root (bits 40:30)
    pt.map(Number(iova), 512, contiguousRuns(0x40000, 512), PROT_READ | PROT_WRITE);
    pt.map(Number(iova) + 512, 1, contiguousRuns(0x50001, 1), PROT_READ);
    const rootEntry = mem.u64(pt.root * 4096 + 4 * 8);
    expect(rootEntry & 0x3ffn).toBe(1n); // pointer: V only
    const l1 = Number(rootEntry >> 10n);
    const huge = mem.u64(l1 * 4096);
    expect(huge).toBe((0x40000n << 10n) | 0xd7n); // V R W U A D
    const l0ptr = mem.u64(l1 * 4096 + 8);
    const leaf = mem.u64(Number(l0ptr >> 10n) * 4096);
    expect(leaf).toBe((0x50001n << 10n) | 0x53n); // V R U A
    const d = decodeSvPte(Number(leaf & 0xffffffffn), Number(leaf >> 32n));
    expect(d.kind).toBe('leaf');
    expect(d.fields).toMatchObject({ V: true, R: true, W: false, U: true, A: true, D: false });
  });

  it('an entry with W but not R, a reserved bit, or U on a pointer decodes as invalid', () => {
    expect(decodeSvPte(0x5, 0).kind).toBe('invalid');
    expect(decodeSvPte(0x3, 1 << 22).kind).toBe('invalid');
    expect(decodeSvPte(0x11, 0).kind).toBe('invalid');
  });
});
