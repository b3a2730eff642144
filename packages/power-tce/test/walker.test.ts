import { describe, expect, it } from 'vitest';
import type { DmaRequest, FaultRecord } from '@ioasid/core';
import {
  PHB_DMA_ERROR,
  PHB_RTC_INVALIDATE_ALL,
  Phb4,
  Phb4Firmware,
  encodeTceKill,
  writeRte,
} from '../src/index.js';
import { newHost, writeBe64 } from './helpers.js';

const DDW = 0x0800000000000000n;
const PE = 7;
const RID = 0x0108;

function setup(opts: { hw560152?: boolean } = {}) {
  const host = newHost();
  const phb = new Phb4(host);
  const fw = new Phb4Firmware(phb, host, opts.hw560152 ?? true);
  fw.setPe(PE, RID, true);
  return { host, phb, fw };
}

function req(iova: bigint, write = false, rid = RID): DmaRequest {
  return { rid, pasid: -1, iovaFrame: Number(iova >> 12n), write, privileged: false };
}

function faultOf(r: number | FaultRecord): FaultRecord {
  if (typeof r === 'number') throw new Error(`expected a fault, got frame 0x${r.toString(16)}`);
  return r;
}

/** A one-level 4K window at bus 0: 8 KiB table (1024 TCEs, 4 MiB window) built by hand. */
function oneLevel(host: ReturnType<typeof newHost>, fw: Phb4Firmware) {
  const table = host.allocFrames(2, 2) * 4096;
  fw.mapPeDmaWindow(PE, PE * 2, 1, BigInt(table), 0x2000n, 0x1000n);
  return table;
}

describe('RID -> PE (RTT in memory, through the RTC)', () => {
  it('an unmapped RID reads the reserved PE# and faults NO_PE without freezing anything', () => {
    const { phb } = setup();
    const f = faultOf(phb.translate(req(0x1000n, false, 0x0200)));
    expect(f).toMatchObject({ name: 'NO_PE', code: PHB_DMA_ERROR.NO_PE, rid: 0x200, iova: 0x1000n, rte: 511 });
    expect(f.pe).toBeUndefined();
  });

  it('a PASID-prefixed request is refused', () => {
    const { phb } = setup();
    expect(faultOf(phb.translate({ ...req(0n), pasid: 5 }))).toMatchObject({ name: 'NO_PE', pasid: 5 });
  });

  it('the RTC keeps a stale PE# until PHB_RTC_INVALIDATE', () => {
    const { host, phb, fw } = setup();
    oneLevel(host, fw);
    expect(faultOf(phb.translate(req(0n))).name).toBe('TCE_INVALID'); // PE 7 resolved and cached
    fw.eehFreezeClear(PE);
    writeRte(host, fw.rttBase, RID, 511); // RTT changed behind the PHB's back
    expect(faultOf(phb.translate(req(0n))).pe).toBe(PE);
    fw.eehFreezeClear(PE);
    phb.write('PHB_RTC_INVALIDATE', PHB_RTC_INVALIDATE_ALL);
    expect(faultOf(phb.translate(req(0n))).name).toBe('NO_PE');
  });
});

describe('TVE selection and window bounds', () => {
  it('no TVE for the PE -> TVE_INVALID (TVE index 2*PE + bit 59)', () => {
    const { phb, fw } = setup();
    expect(faultOf(phb.translate(req(0x1000n)))).toMatchObject({ name: 'TVE_INVALID', tve: 14, pe: PE, frozen: true });
    fw.eehFreezeClear(PE);
    expect(faultOf(phb.translate(req(DDW + 0x1000n)))).toMatchObject({ name: 'TVE_INVALID', tve: 15 });
  });

  it('beyond the TVE window, or bus bits 63:60 set -> OUT_OF_WINDOW', () => {
    const { host, phb, fw } = setup();
    oneLevel(host, fw); // 1024 TCEs of 4K = 4 MiB
    expect(faultOf(phb.translate(req(0x400000n)))).toMatchObject({ name: 'OUT_OF_WINDOW', windowSize: 0x400000n });
    fw.eehFreezeClear(PE);
    expect(faultOf(phb.translate(req(0x1000000000000000n))).name).toBe('OUT_OF_WINDOW');
  });
});

describe('TCE walk', () => {
  it('one level: leaf TCE gives the page; READ-only refuses writes with PERMISSION', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw);
    writeBe64(host, table + 3 * 8, 0x123456001n);
    writeBe64(host, table + 1023 * 8, 0x99999003n);
    expect(phb.translate(req(0x3000n))).toBe(0x123456);
    expect(phb.translate(req(0x3ff000n, true))).toBe(0x99999);
    expect(faultOf(phb.translate(req(0x3000n, true)))).toMatchObject({ name: 'PERMISSION', write: true, tceRead: true, tceWrite: false, pe: PE });
  });

  it('two levels of a 64K dynamic window: bus bit 59 selects TVE 2*PE+1, index bits per level, IO page offset kept', () => {
    const { host, phb, fw } = setup();
    const top = host.allocFrame() * 4096; // 512 TCEs per level
    const l0 = host.allocFrame() * 4096;
    fw.mapPeDmaWindow(PE, PE * 2 + 1, 2, BigInt(top), 0x1000n, 0x10000n); // window 2^(9*2+16) = 16 GiB
    const offset = (5n << 25n) | (17n << 16n) | 0x3456n; // top index 5, leaf index 17, byte 0x3456
    writeBe64(host, top + 5 * 8, BigInt(l0) | 3n);
    writeBe64(host, l0 + 17 * 8, 0x40000000n | 3n); // a 64K page at 1 GiB
    expect(phb.translate(req(DDW + offset, true))).toBe(0x40003);
    expect(faultOf(phb.translate(req(DDW + (1n << 34n)))).name).toBe('OUT_OF_WINDOW');
  });

  it('an indirect TCE without permission bits -> TCE_INVALID naming level and TCE address', () => {
    const { host, phb, fw } = setup();
    const top = host.allocFrame() * 4096;
    fw.mapPeDmaWindow(PE, PE * 2 + 1, 2, BigInt(top), 0x1000n, 0x1000n);
    const f = faultOf(phb.translate(req(DDW + (9n << 21n))));
    expect(f).toMatchObject({ name: 'TCE_INVALID', level: 1, tceAddr: BigInt(top + 9 * 8), tce: 0n });
  });

  it('the PHB ORs the index into the level base: a misaligned 8 KiB level wraps inside its first frame', () => {
    const { host, phb, fw } = setup();
    const frames = host.allocFrames(4, 4) * 4096;
    const base = frames + 0x1000; // 4K aligned, not 8K aligned
    fw.mapPeDmaWindow(PE, PE * 2, 1, BigInt(base), 0x2000n, 0x1000n);
    // index 600 -> offset 0x12c0; base | 0x12c0 = base + 0x2c0, not base + 0x12c0
    writeBe64(host, base + 0x2c0, 0xaaaa003n);
    writeBe64(host, base + 0x12c0, 0xbbbb003n);
    expect(phb.translate(req(600n << 12n))).toBe(0xaaaa);
  });
});

describe('EEH freeze', () => {
  it('an error freezes the PE (PESTA/PESTB bit 0); all DMA then fails PE_FROZEN until the freeze is cleared', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw);
    writeBe64(host, table, 0x5000003n);
    expect(phb.translate(req(0n))).toBe(0x5000);
    expect(faultOf(phb.translate(req(0x1000n))).name).toBe('TCE_INVALID');
    expect(phb.registers()[`PESTA[${PE}]`]).toBe(0x8000000000000000n);
    expect(phb.registers()[`PESTB[${PE}]`]).toBe(0x8000000000000000n);
    expect(fw.frozen(PE)).toBe(true);
    expect(faultOf(phb.translate(req(0n)))).toMatchObject({ name: 'PE_FROZEN', code: PHB_DMA_ERROR.PE_FROZEN, pe: PE });
    fw.eehFreezeClear(PE);
    expect(phb.registers()[`PESTB[${PE}]`]).toBeUndefined();
    expect(phb.translate(req(0n))).toBe(0x5000);
  });
});

describe('TCE cache: filled by walks, cleared only by PHB_TCE_KILL', () => {
  it('a cleared TCE still translates until a kill (stale), then faults', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw);
    writeBe64(host, table + 8, 0x7777003n);
    expect(phb.translate(req(0x1000n))).toBe(0x7777);
    writeBe64(host, table + 8, 0n); // the driver forgot to kill
    expect(phb.translate(req(0x1000n))).toBe(0x7777);
    expect(phb.tceCache.entries(PE)).toBe(1);
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'one', pe: PE, dmaAddr: 0x1000n, pageShift: 12 }));
    expect(phb.tceCache.entries(PE)).toBe(0);
    expect(faultOf(phb.translate(req(0x1000n))).name).toBe('TCE_INVALID');
  });

  it('KILL_ONE drops only its page and PE; KILL_PE drops the PE; KILL_ALL everything', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw);
    for (let i = 0; i < 4; i++) writeBe64(host, table + i * 8, BigInt(0x100 + i) * 4096n + 3n);
    for (let i = 0; i < 4; i++) phb.translate(req(BigInt(i) * 4096n));
    expect(phb.tceCache.entries(PE)).toBe(4);
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'one', pe: PE + 1, dmaAddr: 0x2000n, pageShift: 12 }));
    expect(phb.tceCache.entries(PE)).toBe(4);
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'one', pe: PE, dmaAddr: 0x2000n, pageShift: 12 }));
    expect(phb.tceCache.entries(PE)).toBe(3);
    // a 64K kill covers the 16 4K pages of the window it names
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'one', pe: PE, dmaAddr: 0n, pageShift: 16 }));
    expect(phb.tceCache.entries(PE)).toBe(0);
    for (let i = 0; i < 4; i++) phb.translate(req(BigInt(i) * 4096n));
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'pe', pe: PE }));
    expect(phb.tceCache.entries(PE)).toBe(0);
    phb.translate(req(0n));
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'all' }));
    expect(phb.tceCache.entries(PE)).toBe(0);
    // the PHB clears the kind bits once queued (QEMU pnv_phb4_reg_write)
    expect(phb.read('PHB_TCE_KILL') >> 61n).toBe(0n);
  });

  it('firmware page kills become PE kills with the HW560152 workaround, KILL_ONE per page without it', () => {
    for (const hw560152 of [true, false]) {
      const { host, phb, fw } = setup({ hw560152 });
      const table = oneLevel(host, fw);
      for (let i = 0; i < 4; i++) writeBe64(host, table + i * 8, BigInt(0x100 + i) * 4096n + 3n);
      for (let i = 0; i < 4; i++) phb.translate(req(BigInt(i) * 4096n));
      fw.tceKill('pages', PE, 0x1000n, 0x1000n, 2);
      expect(phb.tceCache.entries(PE)).toBe(hw560152 ? 0 : 2);
    }
  });
});

describe('bounded caches (direct-mapped models)', () => {
  it('a KILL_PE of one PE leaves the TCE cache entries of other PEs', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw);
    writeBe64(host, table, 0x5000003n);
    const OTHER = 9;
    const rid2 = 0x0110;
    fw.setPe(OTHER, rid2, true);
    const t2 = host.allocFrames(2, 2) * 4096;
    fw.mapPeDmaWindow(OTHER, OTHER * 2, 1, BigInt(t2), 0x2000n, 0x1000n);
    writeBe64(host, t2, 0x6000003n);
    expect(phb.translate(req(0n))).toBe(0x5000);
    expect(phb.translate(req(0n, false, rid2))).toBe(0x6000);
    writeBe64(host, table, 0n);
    writeBe64(host, t2, 0n);
    phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'pe', pe: PE }));
    expect(phb.tceCache.entries(PE)).toBe(0);
    expect(phb.tceCache.entries(OTHER)).toBe(1);
    expect(phb.translate(req(0n, false, rid2))).toBe(0x6000); // still cached (stale)
    expect(faultOf(phb.translate(req(0n))).name).toBe('TCE_INVALID');
  });

  it('pages that index the same TCE cache slot replace each other (then the walk reads memory again)', () => {
    const host = newHost();
    const phb = new Phb4(host, { tceCacheEntries: 4 });
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(PE, RID, true);
    const table = oneLevel(host, fw);
    writeBe64(host, table + 1 * 8, 0x1111003n);
    writeBe64(host, table + 5 * 8, 0x5555003n);
    expect(phb.translate(req(0x1000n))).toBe(0x1111);
    writeBe64(host, table + 1 * 8, 0x2222003n); // changed without a kill: the cache keeps 0x1111
    expect(phb.translate(req(0x1000n))).toBe(0x1111);
    expect(phb.translate(req(0x5000n))).toBe(0x5555); // page 5 takes page 1's slot (4 slots)
    expect(phb.tceCache.entries(PE)).toBe(1);
    expect(phb.translate(req(0x1000n))).toBe(0x2222);
    expect(() => new Phb4(host, { tceCacheEntries: 3 })).toThrow(RangeError);
  });

  it('the RTC drops one RID on an invalidate of that RID, and keeps the others', () => {
    const { phb } = setup();
    phb.rtc.set(0x0108, 7);
    phb.rtc.set(0x0110, 9);
    expect(phb.rtc.get(0x0108)).toBe(7);
    phb.rtc.invalidateRid(0x0108);
    expect(phb.rtc.get(0x0108)).toBeUndefined();
    expect(phb.rtc.get(0x0110)).toBe(9);
    expect(phb.rtc.size).toBe(1);
  });
});

describe('the DMA fast path (translateCached) with the RID and the page cached', () => {
  // The PE and window gate is latched per TVE at every TVT write, PEST write and freeze: each
  // change must stop (or let through) a DMA whose RTC entry and TCE-cache entry are still warm.
  it('a freeze, a shrunk window and an invalidated TVE stop a cached page at once; clearing the freeze lets it through again', () => {
    const { host, phb, fw } = setup();
    const table = oneLevel(host, fw); // 4 MiB window
    writeBe64(host, table + 1023 * 8, 0x99999003n); // the last 4K page of the window
    const last = req(0x3ff000n);
    expect(phb.translate(last)).toBe(0x99999);
    expect(phb.translate(last)).toBe(0x99999); // RTC and TCE cache both hit now

    // Freeze the PE by a DMA error elsewhere (bus bits 63:60): the cached page stops.
    expect(faultOf(phb.translate(req(0x1000000000000000n))).name).toBe('OUT_OF_WINDOW');
    expect(faultOf(phb.translate(last))).toMatchObject({ name: 'PE_FROZEN', pe: PE });
    fw.eehFreezeClear(PE);
    expect(phb.translate(last)).toBe(0x99999);

    // The TVE rewritten to a 4 KiB table (512 TCEs, a 2 MiB window): the page is now beyond it.
    fw.mapPeDmaWindow(PE, PE * 2, 1, BigInt(table), 0x1000n, 0x1000n);
    expect(faultOf(phb.translate(last))).toMatchObject({ name: 'OUT_OF_WINDOW', windowSize: 0x200000n });
    fw.eehFreezeClear(PE);

    // The TVE cleared: nothing translates through it.
    fw.mapPeDmaWindow(PE, PE * 2, 0, 0n, 0n, 0n);
    expect(faultOf(phb.translate(req(0x1000n))).name).toBe('TVE_INVALID');
  });
});
