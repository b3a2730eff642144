import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW_SIZE, POWERNV_IOMMU_DEFAULT_LEVELS, defaultWindow, dynamicWindow, levelShiftFor, linuxLevels } from '../src/index.js';

const K = 1024n;
const M = K * K;
const G = M * K;

function err(f: () => unknown): { errno?: string; message?: string } {
  try {
    f();
  } catch (e) {
    return e as { errno: string; message: string };
  }
  return {};
}

describe('default 32-bit window (VFIO tce_iommu_create_default_window: 4K pages, tce32_size = m32_pci_base, 1 level)', () => {
  it('2 GiB at bus 0 with one 4 MiB level of 2^19 TCEs', () => {
    expect(DEFAULT_WINDOW_SIZE).toBe(2n * G); // skiboot include/phb4.h M32_PCI_START 0x80000000
    expect(defaultWindow()).toEqual({
      kind: 'default',
      select: 0,
      busStart: 0n,
      size: 2n * G,
      pageShift: 12,
      levels: 1,
      levelShift: 22,
      levelBits: 19,
      tableSize: 4n * M,
    });
  });
});

describe('TCE table geometry (Linux pnv_pci_ioda2_table_alloc_pages: level = max(ceil(entries_shift/levels)+3, PAGE_SHIFT))', () => {
  // [pageShift, windowShift, levels, levelShift (bytes of each level)]
  const cases: [number, number, number, number][] = [
    [12, 31, 1, 22], // 2^19 TCEs in one 4 MiB level
    [12, 31, 2, 13], // ceil(19/2) = 10 bits -> 8 KiB levels
    [12, 40, 2, 17], // 28 bits -> 14 per level
    [12, 48, 3, 15], // 36 bits -> 12 per level
    [16, 40, 2, 15], // 24 bits -> 12 per level, 32 KiB (8 frames)
    [16, 32, 1, 19], // 16 bits in one 512 KiB level
    [21, 40, 2, 13], // 19 bits -> 10 per level
    [21, 30, 1, 12], // 9 bits, one 4 KiB level
    [30, 40, 2, 12], // 10 bits -> 5 per level, raised to one 4 KiB page
    [30, 31, 1, 12], // 1 TCE still takes a 4 KiB page
    [12, 20, 5, 12], // 8 bits over 5 levels -> minimum size
  ];
  it.each(cases)('page 2^%i, window 2^%i, %i level(s) -> levels of 2^%i bytes', (p, ws, l, expected) => {
    expect(levelShiftFor(p, ws, l)).toBe(expected);
    const g = dynamicWindow({ pageSize: 1n << BigInt(p), size: 1n << BigInt(ws), levels: l });
    expect(g.levelShift).toBe(expected);
    expect(g.levelBits).toBe(expected - 3);
    expect(g.tableSize).toBe(1n << BigInt(expected));
    // The table reaches at least the window (more when levels do not divide the index bits).
    expect(g.levelBits * l + p).toBeGreaterThanOrEqual(ws);
    expect(g.busStart).toBe(0x0800000000000000n);
    expect(g.select).toBe(1);
  });
});

describe('level count without window.levels (pnv_pci_ioda2_setup_default_config)', () => {
  it('levels = max(ceil(tces_order / ilog2(maxblock >> 3)), POWERNV_IOMMU_DEFAULT_LEVELS), maxblock 4 MiB', () => {
    expect(POWERNV_IOMMU_DEFAULT_LEVELS).toBe(2);
    expect(linuxLevels(12, 31)).toBe(2); // 19 TCE bits -> 1, raised to 2
    expect(linuxLevels(12, 40)).toBe(2); // 28 bits / 19
    expect(linuxLevels(12, 50)).toBe(2); // 38 bits / 19 = 2 exactly
    expect(linuxLevels(12, 51)).toBe(3); // 39 bits: remainder -> 3
    expect(linuxLevels(16, 55)).toBe(3); // 39 bits
    expect(linuxLevels(30, 40)).toBe(2);
    expect(dynamicWindow({ pageSize: 64n * K, size: 1n << 40n }).levels).toBe(2);
    expect(dynamicWindow({ pageSize: 4n * K, size: 1n << 51n }).levels).toBe(3);
  });
});

describe('window request errors', () => {
  it('unsupported page sizes -> EINVAL naming pageSize (skiboot: 4K, 64K, 2M, 1G)', () => {
    for (const ps of [8n * K, 16n * M, 256n * M, 3n]) {
      const e = err(() => dynamicWindow({ pageSize: ps, size: 1n << 32n }));
      expect(e.errno).toBe('EINVAL');
      expect(e.message).toMatch(/window\.pageSize/);
    }
  });

  it('size not a power of two or below the page size -> EINVAL', () => {
    expect(err(() => dynamicWindow({ pageSize: 4096n, size: 3n * G })).errno).toBe('EINVAL');
    expect(err(() => dynamicWindow({ pageSize: 64n * K, size: 4096n })).errno).toBe('EINVAL');
    expect(err(() => dynamicWindow({ pageSize: 4096n, size: 1 })).errno).toBe('EINVAL');
    expect(err(() => dynamicWindow(undefined)).errno).toBe('EINVAL');
  });

  it('levels outside 1..5 -> EINVAL', () => {
    for (const levels of [0, 6, 1.5, '2']) {
      const e = err(() => dynamicWindow({ pageSize: 4096n, size: 1n << 32n, levels }));
      expect(e.errno).toBe('EINVAL');
      expect(e.message).toMatch(/window\.levels/);
    }
  });

  it('too large -> ENOSPC, saying why', () => {
    const past = err(() => dynamicWindow({ pageSize: 4096n, size: 1n << 60n }));
    expect(past.errno).toBe('ENOSPC');
    expect(past.message).toMatch(/MSI/);
    const oneLevel = err(() => dynamicWindow({ pageSize: 4096n, size: 1n << 40n, levels: 1 }));
    expect(oneLevel.errno).toBe('ENOSPC');
    expect(oneLevel.message).toMatch(/more levels/);
    const reach = err(() => dynamicWindow({ pageSize: 4096n, size: 1n << 58n }));
    expect(reach.errno).toBe('ENOSPC');
    expect(reach.message).toMatch(/2\^60/);
  });
});
