import { describe, expect, it } from 'vitest';
import type { FaultRecord, FrameMemory } from '@ioasid/core';
import { CdTable, OP, directSpace, encodeSte, lpaeStage2Format, nestedSte, s1Cd, s2Ste, type Granule } from '../src/index.js';
import { bareUnit, hostTable, isFault, mapRange, s2Of } from './hw-harness.js';

const GRANULES: Granule[] = [4096, 16384, 65536];

describe('stage 2 only (Config 0b110)', () => {
  it('translates through a stage 2 table and reports stage 2 faults with S2 = 1 and the IPA', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0x40000000, 0x2000_0000, 0x200000); // one 2 MiB block
    mapRange(t, 0x1000, 0x3000_5000, 0x1000, 1); // read-only page
    b.writeSte(8, s2Ste(s2Of(t, 3), false));
    expect(b.dma(8, 0x40012345)).toBe(0x20012);
    expect(b.dma(8, 0x1000)).toBe(0x30005);
    const w = b.dma(8, 0x1000, { write: true }) as FaultRecord;
    expect(w).toMatchObject({ name: 'F_PERMISSION', code: 0x13, s2: true, ipa: 0x1000n, class: 'IN', recorded: true });
    const miss = b.dma(8, 0x5000) as FaultRecord;
    expect(miss).toMatchObject({ name: 'F_TRANSLATION', s2: true, ipa: 0x5000n });
    const ev = b.events();
    expect(ev.map((e) => e.name)).toEqual(['F_PERMISSION', 'F_TRANSLATION']);
    expect(ev[0]).toMatchObject({ SID: 8, S2: 1, RnW: 0, IPA: 0x1, ADDR: 0x1000n });
    expect(ev[1]).toMatchObject({ RnW: 1, IPA: 0x5 });
  });

  it('an IPA beyond S2T0SZ is a stage 2 translation fault', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2, 4096, 40);
    b.writeSte(8, s2Ste(s2Of(t), false));
    expect(b.dma(8, 2 ** 40)).toMatchObject({ name: 'F_TRANSLATION', s2: true });
  });
});

describe('stage 1 permissions (AP[2:1], APTable)', () => {
  function s1(ap: number, hiTable = 0) {
    const b = bareUnit();
    const t = hostTable(b.host, 1);
    mapRange(t, 0x10000, 0x5000_0000, 0x1000);
    const steps = t.walk(0x10);
    const leaf = steps[steps.length - 1];
    // Rewrite AP[2:1] of the leaf (bits 7:6) in memory, and APTable of the level-2 table entry.
    const lo = b.host.u32(Number(leaf.entryAddr));
    b.host.write(Number(leaf.entryAddr), new Uint8Array(new Uint32Array([((lo & ~0xc0) | (ap << 6)) >>> 0]).buffer));
    if (hiTable) {
      const te = steps[steps.length - 2];
      b.host.write(Number(te.entryAddr) + 4, new Uint8Array(new Uint32Array([b.host.u32(Number(te.entryAddr) + 4) | hiTable]).buffer));
    }
    const cd = b.host.allocFrame() * 4096;
    b.writeWords(cd, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 1, ipsBits: 48 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cd, S1STALLD: 1 }));
    const probe = (write: boolean, privileged: boolean) => {
      b.cmd([OP.TLBI_NSNH_ALL, {}]);
      const r = b.dma(8, 0x10000, { write, privileged });
      return isFault(r) ? r.name : 'ok';
    };
    return [probe(false, false), probe(true, false), probe(false, true), probe(true, true)];
  }
  it('AP 0b01 (EL0 and EL1 read/write): everything allowed', () => expect(s1(1)).toEqual(['ok', 'ok', 'ok', 'ok']));
  it('AP 0b00 (EL1 only): unprivileged DMA faults, privileged passes', () => expect(s1(0)).toEqual(['F_PERMISSION', 'F_PERMISSION', 'ok', 'ok']));
  it('AP 0b11 (read-only at EL0 and EL1): writes fault', () => expect(s1(3)).toEqual(['ok', 'F_PERMISSION', 'ok', 'F_PERMISSION']));
  it('AP 0b10 (EL1 read-only): unprivileged faults, privileged reads', () => expect(s1(2)).toEqual(['F_PERMISSION', 'F_PERMISSION', 'ok', 'F_PERMISSION']));
  it('APTable[1] (bit 62) makes everything below read-only; APTable[0] (bit 61) removes EL0 access', () => {
    expect(s1(1, 1 << 30)).toEqual(['ok', 'F_PERMISSION', 'ok', 'F_PERMISSION']);
    expect(s1(1, 1 << 29)).toEqual(['F_PERMISSION', 'F_PERMISSION', 'ok', 'ok']);
  });
});

describe('nested (Config 0b111): CD fetch and stage 1 walks go through stage 2', () => {
  function nestedSetup(granule: Granule = 4096) {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    // "Guest RAM": IPA [0, 64 MiB) → host PA 0x8000_0000 + IPA, mapped with 2 MiB blocks.
    mapRange(s2, 0, 0x8000_0000, 64 << 20);
    const ipaToPa = (ipa: number) => 0x8000_0000 + ipa;
    // The guest builds its stage 1 table in guest RAM; we place it through a host view of that RAM.
    const guestFrames = { next: 0x3000 }; // IPA frame numbers handed out for tables
    const mem: FrameMemory = {
      wordsForRead: (g: number) => b.host.wordsForRead(ipaToPa(g * 4096) / 4096),
      wordsForWrite: (g: number) => b.host.wordsForWrite(ipaToPa(g * 4096) / 4096),
      wordBase: (g: number) => b.host.wordBase(ipaToPa(g * 4096) / 4096),
      allocFrames: (n: number, a: number) => {
        guestFrames.next = Math.ceil(guestFrames.next / a) * a;
        const f = guestFrames.next;
        guestFrames.next += n;
        for (let k = 0; k < n; k++) b.host.zeroFrames(ipaToPa((f + k) * 4096) / 4096, 1);
        return f;
      },
      freeFrames: () => {},
    };
    const s1 = hostTable(mem, 1, granule);
    const cdt = CdTable.create(directSpace(mem), 'two-level', 8);
    return { b, s2, s1, cdt, ipaToPa };
  }

  it('translates GVA → IPA → PA with a guest CD table at an IPA', () => {
    const { b, s2, s1, cdt } = nestedSetup();
    mapRange(s1, 0x7000_0000, 0x20_0000, 0x1000); // GVA → IPA 2 MiB
    cdt.write(5, s1Cd({ ttb0: s1.root * 4096, granule: 4096, ias: 48, asid: 7, ipsBits: 48 }));
    b.writeSte(8, nestedSte({ ctxPtr: cdt.addr, s1fmt: cdt.s1fmt, s1cdmax: 8, s1dss: 2, stallDisabled: true }, s2Of(s2, 2), false));
    expect(b.dma(8, 0x7000_0123, { pasid: 5 })).toBe((0x8000_0000 + 0x20_0000) / 4096);
    // The IPA the guest's table points at is beyond guest RAM: stage 2 fault, class IN.
    mapRange(s1, 0x7000_1000, 0x4000_0000, 0x1000);
    expect(b.dma(8, 0x7000_1000, { pasid: 5 })).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'IN', ipa: 0x4000_0000n });
  });

  for (const granule of GRANULES) {
    it(`guest stage 1 with the ${granule / 1024}K granule over a 4K stage 2`, () => {
      const { b, s2, s1, cdt } = nestedSetup(granule);
      mapRange(s1, 0x40_0000_0000, 0x10_0000, granule * 4);
      cdt.write(1, s1Cd({ ttb0: s1.root * 4096, granule, ias: 48, asid: 3, ipsBits: 48 }));
      b.writeSte(8, nestedSte({ ctxPtr: cdt.addr, s1fmt: cdt.s1fmt, s1cdmax: 8, s1dss: 2, stallDisabled: true }, s2Of(s2, 2), false));
      expect(b.dma(8, 0x40_0000_0000 + granule + 0x1000, { pasid: 1 })).toBe((0x8000_0000 + 0x10_0000 + granule + 0x1000) / 4096);
    });
  }

  it('a stage 1 table pointer outside guest RAM is a stage 2 fault of class TT with the table IPA', () => {
    const { b, s2, s1, cdt } = nestedSetup();
    mapRange(s1, 0x1000, 0x1000, 0x1000);
    // Point the top-level entry of the guest table at IPA 0x9000_0000 (outside guest RAM).
    const top = s1.walk(1)[0];
    b.host.write(Number(top.entryAddr) - s1.root * 4096 + 0x8000_0000 + s1.root * 4096, new Uint8Array(new Uint32Array([0x9000_0003, 0]).buffer));
    cdt.write(1, s1Cd({ ttb0: s1.root * 4096, granule: 4096, ias: 48, asid: 3, ipsBits: 48 }));
    b.writeSte(8, nestedSte({ ctxPtr: cdt.addr, s1fmt: cdt.s1fmt, s1cdmax: 8, s1dss: 2, stallDisabled: true }, s2Of(s2, 2), false));
    expect(b.dma(8, 0x1000, { pasid: 1 })).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'TT' });
    const [ev] = b.events();
    expect(ev).toMatchObject({ S2: 1, CLASS: 1, SSV: 1, SSID: 1 });
    expect(ev.IPA * 4096).toBeGreaterThanOrEqual(0x9000_0000);
  });
});

describe('page walks never write memory (IDR0.HTTU = 0)', () => {
  it('a translation leaves host memory bytes unchanged', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0x1000, 0x9000, 0x1000);
    b.writeSte(8, s2Ste({ vmid: 1, geometry: lpaeStage2Format(4096, 48).geometry, ttb: t.root * 4096, oasBits: 48 }, false));
    const before = b.host.read(t.root * 4096, 4096);
    b.dma(8, 0x1000, { write: true });
    expect(b.host.read(t.root * 4096, 4096)).toEqual(before);
  });
});
