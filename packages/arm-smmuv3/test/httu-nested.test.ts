/**
 * Hardware updates in nested translation (STE.Config 0b111): a stage 1 descriptor update is a
 * write to the descriptor's IPA, which stage 2 must allow (the model's rule, so that a guest
 * table placed where stage 2 is read-only, such as the kernel CD tables in the MSI window, is
 * never written); and stage 2 dirty state (STE.S2HD) logs the guest's DMA writes in the
 * parent's stage 2 leaves.
 */
import { describe, expect, it } from 'vitest';
import type { FaultRecord, FrameMemory } from '@ioasid/core';
import { AF, CdTable, S2_AP_WRITE, directSpace, nestedSte, s1Cd, type LpaeFormat } from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of } from './hw-harness.js';

const GUEST_PA = 0x8000_0000;
const TABLES_IPA = 0x300_0000; // the guest's tables are allocated from here (one 2 MiB block)

function nested(opts: { tablesReadOnly?: boolean; s2hd?: boolean } = {}) {
  const b = bareUnit();
  const s2 = hostTable(b.host, 2);
  if (opts.s2hd) (s2.fmt as LpaeFormat).trackDirty = true;
  mapRange(s2, 0, GUEST_PA, TABLES_IPA);
  mapRange(s2, TABLES_IPA, GUEST_PA + TABLES_IPA, 2 << 20, opts.tablesReadOnly ? 1 : 3);
  const ipaToPa = (ipa: number) => GUEST_PA + ipa;
  let next = TABLES_IPA / 4096;
  const mem: FrameMemory = {
    wordsForRead: (g: number) => b.host.wordsForRead(ipaToPa(g * 4096) / 4096),
    wordsForWrite: (g: number) => b.host.wordsForWrite(ipaToPa(g * 4096) / 4096),
    wordBase: (g: number) => b.host.wordBase(ipaToPa(g * 4096) / 4096),
    allocFrames: (n: number, a: number) => {
      next = Math.ceil(next / a) * a;
      const f = next;
      next += n;
      for (let k = 0; k < n; k++) b.host.zeroFrames(ipaToPa((f + k) * 4096) / 4096, 1);
      return f;
    },
    freeFrames: () => {},
  };
  const s1 = hostTable(mem, 1);
  mapRange(s1, 0x7000_0000, 0x20_0000, 0x1000); // GVA → IPA 2 MiB
  const cdt = CdTable.create(directSpace(mem), 'two-level', 8);
  cdt.write(5, s1Cd({ ttb0: s1.root * 4096, granule: 4096, ias: 48, asid: 7, ipsBits: 48, hd: true }));
  b.writeSte(8, nestedSte({ ctxPtr: cdt.addr, s1fmt: cdt.s1fmt, s1cdmax: 8, s1dss: 2, stallDisabled: true }, { ...s2Of(s2, 2), hd: opts.s2hd === true }, false));
  // The guest leaf's PA, and its AF cleared (so that CD.HA has something to update).
  const steps = s1.walk(0x7000_0000 / 4096);
  const leafPa = ipaToPa(Number(steps[steps.length - 1].entryAddr));
  b.host.write(leafPa, new Uint8Array(new Uint32Array([b.host.u32(leafPa) & ~AF]).buffer));
  return { b, s2, leafPa };
}

describe('HTTU in nested translation', () => {
  it('CD.HA: the guest leaf gets AF through a stage 2 that allows the write', () => {
    const { b, leafPa } = nested();
    expect(b.dma(8, 0x7000_0010, { pasid: 5 })).toBe((GUEST_PA + 0x20_0000) / 4096);
    expect(b.host.u32(leafPa) & AF).toBe(AF);
  });

  it('a guest table stage 2 maps read-only is never written: the update is a stage 2 permission fault', () => {
    const { b, leafPa } = nested({ tablesReadOnly: true });
    const before = b.host.read(Math.floor(leafPa / 4096) * 4096, 4096);
    const r = b.dma(8, 0x7000_0010, { pasid: 5 }) as FaultRecord;
    expect(r).toMatchObject({ name: 'F_PERMISSION', s2: true });
    expect(b.host.read(Math.floor(leafPa / 4096) * 4096, 4096)).toEqual(before);
  });

  it('STE.S2HD: the guest DMA write dirties the parent stage 2 leaf; the table walk reads alone do not', () => {
    const { b, s2, leafPa } = nested({ s2hd: true });
    const s2Leaf = (ipa: number) => {
      const st = s2.walk(ipa / 4096);
      return b.host.u32(Number(st[st.length - 1].entryAddr));
    };
    expect(b.dma(8, 0x7000_0010, { pasid: 5 })).toBe((GUEST_PA + 0x20_0000) / 4096);
    expect(s2Leaf(0x20_0000) & S2_AP_WRITE).toBe(0);
    // The AF update of the guest leaf was a write to its block: that block is dirty.
    expect(s2Leaf(leafPa - GUEST_PA) & S2_AP_WRITE).toBe(S2_AP_WRITE);
    expect(b.dma(8, 0x7000_0010, { pasid: 5, write: true })).toBe((GUEST_PA + 0x20_0000) / 4096);
    expect(s2Leaf(0x20_0000) & S2_AP_WRITE).toBe(S2_AP_WRITE);
  });
});
