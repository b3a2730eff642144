import { contiguousRuns, PROT_READ, PROT_WRITE, RadixPageTable, type DmaRequest, type HostMemory } from '@ioasid/core';
import {
  DEFAULT_UNIT_CONFIG, encodeContextEntry, encodeInvDesc, encodePasidDirEntry, encodePasidEntry, encodeRootEntry, FirstLevelFormat, GCMD_QIE, GCMD_SRTP, GCMD_TE,
  SecondLevelFormat, VtdUnit, withField, IQA_DW, IQA_IQA, IQA_QS, IQT_QT, RTADDR_RTA, RTADDR_TTM, type InvDesc, type PasidEntry, type SmContextEntry,
} from '../src/index.js';
import { newHost } from './helpers.js';

/** Memory just beyond what the host has (2^46), still below HAW (2^48): an access error, not a reserved bit. */
export const NO_MEMORY = 1n << 46n;

function put(host: HostMemory, pa: bigint, q: bigint[]): void {
  const b = new Uint8Array(8 * q.length);
  const dv = new DataView(b.buffer);
  q.forEach((v, k) => dv.setBigUint64(8 * k, v, true));
  host.write(Number(pa), b);
}

export interface HandOptions {
  /** The second- and first-level table formats (4 levels each unless given). */
  sl?: SecondLevelFormat;
  fl?: FirstLevelFormat;
  /** The unit's widest second-level address width (57 for a 5-level second level). */
  addressWidth?: 48 | 57;
}

/**
 * A unit with tables written by hand (no driver): the test plays the kernel, one structure at a
 * time, to reach every fault path.
 */
export class Hand {
  readonly host = newHost();
  readonly unit: VtdUnit;
  readonly root = BigInt(this.host.allocFrame()) * 4096n;
  readonly ctxTable = BigInt(this.host.allocFrame()) * 4096n;
  readonly dir = BigInt(this.host.allocFrame()) * 4096n;
  readonly ptable = BigInt(this.host.allocFrame()) * 4096n;
  readonly iq = this.host.allocFrames(2, 2);
  readonly status = BigInt(this.host.allocFrame()) * 4096n;
  private tail = 0;
  readonly sl: RadixPageTable;
  readonly fl: RadixPageTable;

  constructor(opts: HandOptions = {}) {
    this.unit = new VtdUnit(this.host, { ...DEFAULT_UNIT_CONFIG, addressWidth: opts.addressWidth ?? DEFAULT_UNIT_CONFIG.addressWidth });
    this.sl = RadixPageTable.create(this.host, opts.sl ?? new SecondLevelFormat({ levels: 4 }));
    this.fl = RadixPageTable.create(this.host, opts.fl ?? new FirstLevelFormat({ levels: 4 }));
    this.unit.write('RTADDR_REG', withField(withField(0n, RTADDR_RTA, this.root >> 12n), RTADDR_TTM, 1));
    this.unit.write('GCMD_REG', BigInt(GCMD_SRTP));
    this.unit.write('IQA_REG', withField(withField(withField(0n, IQA_IQA, this.iq), IQA_DW, 1), IQA_QS, 1));
    this.unit.write('GCMD_REG', BigInt(GCMD_QIE | GCMD_TE));
    // bus 0, devfn 0x08 (RID 0x08) and its neighbours use the lower context table
    put(this.host, this.root, encodeRootEntry({ lp: true, lctp: this.ctxTable, up: false, uctp: 0n }));
    this.context(0x08, {});
    put(this.host, this.dir, [encodePasidDirEntry({ p: true, fpd: false, ptp: this.ptable })]);
  }

  context(rid: number, e: Partial<SmContextEntry>): void {
    const full: SmContextEntry = { p: true, fpd: false, dte: false, paside: true, pre: false, pdts: 0, pasidDirPtr: this.dir, ridPasid: 0, ridPriv: false, ...e };
    put(this.host, this.ctxTable + BigInt((rid & 0x7f) * 32), encodeContextEntry(full));
  }

  rawContext(rid: number, q: bigint[]): void {
    put(this.host, this.ctxTable + BigInt((rid & 0x7f) * 32), q);
  }

  rawRoot(bus: number, q: bigint[]): void {
    put(this.host, this.root + BigInt(bus * 16), q);
  }

  dirEntry(index: number, q: bigint): void {
    put(this.host, this.dir + BigInt(index * 8), [q]);
  }

  /** Writes the PASID entry of `pasid` (in the first PASID table). */
  pasid(pasid: number, e: Partial<PasidEntry>): void {
    const full: PasidEntry = {
      p: true, fpd: false, aw: this.sl.fmt.levels - 2, pgtt: 2, slptptr: this.sl.rootAddr, did: 1, pwsnp: true, pgsnp: false, sre: false, wpe: false, eafe: false,
      flpm: this.fl.fmt.levels === 5 ? 1 : 0, flptptr: this.fl.rootAddr, ...e,
    };
    put(this.host, this.ptable + BigInt(pasid * 64), encodePasidEntry(full));
  }

  rawPasid(pasid: number, q: bigint[]): void {
    put(this.host, this.ptable + BigInt(pasid * 64), q);
  }

  mapSl(iova: bigint, hpa: bigint, size: bigint, prot = PROT_READ | PROT_WRITE): void {
    this.sl.map(Number(iova >> 12n), Number(size >> 12n), contiguousRuns(Number(hpa >> 12n), Number(size >> 12n)), prot);
  }

  mapFl(iova: bigint, pa: bigint, size: bigint, prot = PROT_READ | PROT_WRITE): void {
    this.fl.map(Number(iova >> 12n), Number(size >> 12n), contiguousRuns(Number(pa >> 12n), Number(size >> 12n)), prot);
  }

  /** Writes raw bits into the entry the engine walk reaches at `level` for `iova` in table `t`. */
  poke(t: RadixPageTable, iova: bigint, level: number, fn: (v: bigint) => bigint): void {
    const step = t.walk(Number(iova >> 12n)).find((s) => s.level === level)!;
    put(this.host, step.entryAddr, [fn(step.raw)]);
  }

  dma(iova: bigint, o: Partial<DmaRequest> = {}) {
    return this.unit.translate({ rid: 0x08, pasid: -1, iovaFrame: Number(iova >> 12n), write: false, privileged: false, ...o });
  }

  /** Submits descriptors through the queue, as software would. */
  invalidate(...descs: InvDesc[]): void {
    for (const d of [...descs, { type: 'wait', sw: true, fn: true, iflag: true, pd: false, statusData: 2, statusAddr: this.status } as InvDesc]) this.putDesc(encodeInvDesc(d));
    this.ring();
  }

  /** Writes a raw 256-bit descriptor (four qwords) at the queue tail; returns its slot. */
  putDesc(q: bigint[]): number {
    const slot = this.tail;
    this.writeSlot(slot, q);
    this.tail = (this.tail + 1) % 256;
    return slot;
  }

  /** Overwrites queue slot `slot` with a raw descriptor. */
  writeSlot(slot: number, q: bigint[]): void {
    put(this.host, BigInt(this.iq) * 4096n + BigInt(slot * 32), [...q, 0n, 0n, 0n, 0n].slice(0, 4));
  }

  /** Moves IQT_REG to the software tail. */
  ring(): void {
    this.unit.write('IQT_REG', withField(0n, IQT_QT, (this.tail * 32) >> 4));
  }

  /** The slot IQH_REG points at (256-bit descriptors). */
  get head(): number {
    return Number(this.unit.read('IQH_REG') >> 5n);
  }
}
