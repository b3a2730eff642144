import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { vtdMachine } from './helpers.js';

/**
 * Guest-owned first-level tables are untrusted (DESIGN §7): whatever bytes the guest writes, a
 * DMA ends in a host frame the parent maps or in a VT-d fault record; never an exception or a hang,
 * and the debug views stay bounded.
 */
describe('hostile guest first-level tables', () => {
  it('random table contents give a translation or a fault record, and dumps terminate', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 511 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { minLength: 1, maxLength: 60 }),
        fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (writes, gvas, selfLoop) => {
          const { m } = vtdMachine({ guestMemory: 16n << 20n });
          const fd = m.openIoasidFd();
          const dev = m.device('dev0');
          dev.bindIoasidFd(fd, { label: 'g' });
          const parent = fd.alloc({ protocol: 'map' });
          fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
          dev.attachIoasid(parent);
          const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
          dev.attachIoasid(child);
          // Four guest table pages at GPA 0x10000..0x13fff; page k holds level-(3-k) entries.
          const page = (k: number) => 0x10000n + BigInt(k) * 0x1000n;
          const put = (gpa: bigint, v: bigint) => {
            const b = new Uint8Array(8);
            new DataView(b.buffer).setBigUint64(0, v, true);
            m.guest.write(gpa, b);
          };
          if (selfLoop) for (let i = 0; i < 512; i++) put(page(0) + BigInt(i * 8), page(0) | 0x27n); // every PML4E points back at the PML4
          for (const [k, i, v] of writes) put(page(k) + BigInt(i * 8), v);
          fd.bindPgtable({ ioasid: child, addr: page(0), format: { kind: 'vtd-first-level', levels: 4 } });
          const guestFrames = new Set(Array.from({ length: Number(m.guest.size >> 12n) }, (_, g) => m.guest.hostFrame(g)));
          for (const gva of gvas) {
            for (const write of [false, true]) {
              const r = m.driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: Number(gva >> 12n), write, privileged: false });
              if (typeof r === 'number') {
                // Whatever it reached must be guest RAM (the parent maps nothing else).
                expect(guestFrames.has(r)).toBe(true);
              } else {
                expect(typeof r.code).toBe('number');
                expect(typeof r.name).toBe('string');
              }
            }
          }
          const d = fd.dumpPgtable(child);
          expect(d.root).not.toBeNull();
          fd.lookup(child, gvas[0]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
