import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { contiguousRuns, PROT_READ, PROT_WRITE, type FaultRecord } from '@ioasid/core';
import { VtdNestedDomain, VtdSecondLevelDomain } from '../src/index.js';
import { vtdMachine } from './helpers.js';

const range = fc.record({
  at: fc.integer({ min: 0, max: (1 << 24) - 1 }), // 4 KiB frames below 64 GiB
  n: fc.integer({ min: 1, max: 2048 }),
  out: fc.integer({ min: 0x1000000, max: 0x2000000 }),
  write: fc.boolean(),
  align: fc.constantFrom(1, 512),
});

describe('walker vs engine agreement', () => {
  it('second level: every probe the engine maps translates to the same frame; everything else faults', () => {
    fc.assert(
      fc.property(fc.array(range, { maxLength: 5 }), fc.array(fc.integer({ min: 0, max: (1 << 24) - 1 }), { maxLength: 20 }), (maps, probes) => {
        const { m, driver } = vtdMachine();
        const dev = m.device('dev0').desc;
        const d = driver.createDomain({ protocol: 'map', format: {} }) as VtdSecondLevelDomain;
        d.attach(dev, undefined);
        const placed: { at: number; n: number; out: number; write: boolean }[] = [];
        for (const r of maps) {
          const at = r.at - (r.at % r.align);
          const out = r.out - (r.out % r.align);
          if (placed.some((p) => at < p.at + p.n && p.at < at + r.n)) continue;
          if (at * 4096 < 0xfef00000 && (at + r.n) * 4096 > 0xfee00000) continue; // not a permitted range
          d.map(BigInt(at) << 12n, BigInt(r.n) << 12n, contiguousRuns(out, r.n), PROT_READ | (r.write ? PROT_WRITE : 0));
          placed.push({ at, n: r.n, out, write: r.write });
        }
        const check = () => {
          const frames = [...probes, ...placed.flatMap((p) => [p.at, p.at + p.n - 1, p.at + (p.n >> 1)])];
          for (const f of frames) {
            for (const write of [false, true]) {
              const leaf = d.table.lookup(f);
              const r = driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: f, write, privileged: false });
              if (leaf && (!write || leaf.perms & PROT_WRITE)) expect(r).toBe(leaf.frame);
              else expect((r as FaultRecord).name).toBe(write ? 'WRITE' : 'READ');
            }
          }
        };
        check();
        // unmap half of them: the driver's flushes must leave nothing stale
        for (const p of placed.filter((_, i) => i % 2 === 0)) d.unmap(BigInt(p.at) << 12n, BigInt(p.n) << 12n);
        check();
      }),
      { numRuns: 30 },
    );
  });

  it('nested: a guest first-level table built by GuestMemory agrees with both engines composed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gva: fc.integer({ min: 0, max: (1 << 22) - 1 }), n: fc.integer({ min: 1, max: 600 }), gpa: fc.integer({ min: 0, max: 4000 }), write: fc.boolean() }), { maxLength: 5 }),
        fc.constantFrom(4 as const, 5 as const),
        (maps, levels) => {
          const { m, driver } = vtdMachine();
          const fd = m.openIoasidFd();
          const dev = m.device('dev0');
          dev.bindIoasidFd(fd, { label: 'd' });
          const parent = fd.alloc({ protocol: 'map' });
          fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
          dev.attachIoasid(parent);
          const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
          dev.attachIoasid(child);
          const fmt = driver.guest.pageTableFormat({ kind: 'vtd-first-level', levels });
          const gpt = m.guest.createPageTable(fmt);
          const placed: { gva: number; n: number }[] = [];
          for (const r of maps) {
            if (placed.some((p) => r.gva < p.gva + p.n && p.gva < r.gva + r.n)) continue;
            gpt.map(BigInt(r.gva) << 12n, BigInt(r.gpa) << 12n, BigInt(r.n) << 12n, { read: true, write: r.write });
            placed.push(r);
          }
          fd.bindPgtable({ ioasid: child, addr: gpt.root, format: { kind: 'vtd-first-level', levels } });
          const sl = (fd.ioasidObject(child).domain as VtdNestedDomain).parent;
          for (const p of placed) {
            for (const gf of [p.gva, p.gva + p.n - 1]) {
              for (const write of [false, true]) {
                const first = gpt.table.lookup(gf)!;
                const second = sl.table.lookup(first.frame)!;
                const r = driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: gf, write, privileged: false });
                if (!write || first.perms & PROT_WRITE) expect(r).toBe(second.frame);
                else expect((r as FaultRecord).name).toBe('SM_WRITE');
              }
            }
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
