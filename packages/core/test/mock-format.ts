import { EntryKind, PROT_READ, PROT_WRITE, frameHi, frameLo, toFrame, type DecodedEntry, type PtFormat } from '../src/index.js';

/** The mock format's dirty bit (bit 6 of the low word). */
export const MOCK_DIRTY = 0x40;

/**
 * A test-only format in the spirit of iommufd's selftest mock: 3 levels of 9 bits over 4 KiB,
 * leaves at levels 0 and 1 (2 MiB). Bit 0 present, bit 1 read, bit 2 write, bit 7 leaf above
 * level 0, bit 6 dirty (set by a write through the leaf, as x86's D), bits 51:12 the address.
 * Little-endian.
 */
export function mockFormat(levels = 3): PtFormat {
  return {
    name: 'mock',
    levels,
    pageShift: 12,
    bigEndian: false,
    levelBits: () => 9,
    leafAllowed: (l) => l <= 1,
    kind(w, i, level) {
      const lo = w[i];
      if ((lo & 1) === 0) return EntryKind.Empty;
      if (level === 0 || (lo & 0x80) !== 0) return EntryKind.Leaf;
      return EntryKind.Table;
    },
    outFrame: (w, i) => toFrame(w[i] & 0xfffff000, w[i + 1] & 0xfffff),
    perms: (w, i) => ((w[i] & 2) ? PROT_READ : 0) | ((w[i] & 4) ? PROT_WRITE : 0),
    setTable(w, i, _l, child) {
      w[i] = (frameLo(child) | 0x7) >>> 0;
      w[i + 1] = frameHi(child);
    },
    setLeaf(w, i, level, frame, prot) {
      w[i] = (frameLo(frame) | 1 | (prot & PROT_READ ? 2 : 0) | (prot & PROT_WRITE ? 4 : 0) | (level > 0 ? 0x80 : 0)) >>> 0;
      w[i + 1] = frameHi(frame);
    },
    clear(w, i) {
      w[i] = 0;
      w[i + 1] = 0;
    },
    dirty: (w, i) => (w[i] & MOCK_DIRTY) !== 0,
    clearDirty(w, i) {
      w[i] = (w[i] & ~MOCK_DIRTY) >>> 0;
    },
    decode(lo, hi, level): DecodedEntry {
      const present = (lo & 1) !== 0;
      const leaf = present && (level === 0 || (lo & 0x80) !== 0);
      return {
        kind: !present ? 'empty' : leaf ? 'leaf' : 'table',
        addr: BigInt(toFrame(lo & 0xfffff000, hi & 0xfffff)) << 12n,
        fields: { P: present, R: (lo & 2) !== 0, W: (lo & 4) !== 0, PS: (lo & 0x80) !== 0 },
      };
    },
  };
}
