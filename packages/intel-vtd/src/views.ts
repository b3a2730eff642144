import {
  EntryKind,
  entryHalves,
  rawEntry,
  type DumpEntry,
  type DumpTable,
  type PtFormat,
  PROT_READ,
  PROT_WRITE,
  fail,
  type FrameMemory,
  type HostMemory,
  type LookupView,
  type RadixPageTable,
} from '@ioasid/core';
import { contextEntryFields } from './tables/context-entry.js';
import { pasidEntryFields, PASID_ENTRY_QWORDS } from './tables/pasid-entry.js';
import { readQwords } from './tables/qwords.js';
import type { VtdDomain } from './domain.js';
import type { VtdDriver } from './driver.js';

const ZERO_FRAME = new Uint32Array(1024);

/**
 * Guest-physical memory as the unit sees it for a nested walk: each guest frame through the
 * parent's second-level table (decoded from memory), read-only. Frames the second level does not
 * map read as zeros, as a debugger would show them.
 */
export class GuestPhysicalView implements FrameMemory {
  private lastGfn = -1;
  private lastHost = -1;

  constructor(
    private readonly host: HostMemory,
    private readonly secondLevel: RadixPageTable,
  ) {}

  private hostFrame(gfn: number): number {
    if (gfn !== this.lastGfn) {
      this.lastGfn = gfn;
      this.lastHost = this.secondLevel.lookup(gfn)?.frame ?? -1;
    }
    return this.lastHost;
  }

  wordsForRead(gfn: number): Uint32Array {
    const h = this.hostFrame(gfn);
    return h < 0 ? ZERO_FRAME : this.host.wordsForRead(h);
  }

  wordBase(gfn: number): number {
    const h = this.hostFrame(gfn);
    return h < 0 ? 0 : this.host.wordBase(h);
  }

  wordsForWrite(): Uint32Array {
    fail('EPERM', 'the guest-physical view is read-only');
  }

  allocFrames(): number {
    fail('EPERM', 'the guest-physical view is read-only');
  }

  freeFrames(): void {
    fail('EPERM', 'the guest-physical view is read-only');
  }
}

/** LOOKUP through one radix table, decoded from memory: each level's entry and the result. */
export function engineLookup(table: RadixPageTable, iova: bigint, stage: string): LookupView {
  const frame = Number(iova >> 12n);
  const steps = table.walk(frame).map((s) => ({ ...s, stage }));
  const last = steps[steps.length - 1];
  if (!last || last.decoded.kind !== 'leaf') {
    return { iova, steps, output: null, fault: last ? `${last.decoded.kind} entry at level ${last.level}` : 'no table' };
  }
  const leaf = table.lookup(frame)!;
  return {
    iova,
    steps,
    output: (BigInt(leaf.frame) << 12n) | (iova & 0xfffn),
    perms: { read: (leaf.perms & PROT_READ) !== 0, write: (leaf.perms & PROT_WRITE) !== 0 },
    pageSize: 1n << BigInt(leaf.shift),
  };
}

/** The context and PASID entries of each route a domain is attached at, as they are in memory. */
export function describeRoutes(driver: VtdDriver, d: VtdDomain): Record<string, unknown>[] {
  return d.attachments.map((a) => {
    const ctxAddr = driver.tables.contextEntryAddress(a.rid);
    const peAddr = driver.tables.pasidEntryAddr(a.rid, a.pasid, false);
    return {
      device: a.dev.name,
      rid: a.rid,
      pasid: a.ridLevel ? undefined : a.pasid,
      contextEntryAddr: ctxAddr,
      contextEntry: ctxAddr === null ? null : contextEntryFields(readQwords(driver.host, ctxAddr, 4)),
      pasidEntryAddr: peAddr,
      pasidEntry: peAddr === null ? null : pasidEntryFields(readQwords(driver.host, peAddr, PASID_ENTRY_QWORDS)),
    };
  });
}

/**
 * Dump of a table someone else wrote (a guest's), with a budget on the entries visited: a hostile
 * table whose entries all point back to the same pages would otherwise fan out without end.
 */
export function boundedDump(mem: FrameMemory, fmt: PtFormat, rootFrame: number, budget = 1 << 16): { root: DumpTable; truncated: boolean } {
  let left = budget;
  const spanOf = (level: number) => 1n << BigInt(12 + 9 * level);
  const walk = (table: number, level: number, base: bigint): DumpTable => {
    const out: DumpEntry[] = [];
    const w = mem.wordsForRead(table);
    const b = mem.wordBase(table);
    for (let idx = 0; idx < 512 && left > 0; idx++) {
      const i = b + idx * 2;
      const k = fmt.kind(w, i, level);
      if (k === EntryKind.Empty) continue;
      left--;
      const [lo, hi] = entryHalves(fmt, w, i);
      const decoded = fmt.decode(lo, hi, level);
      const e: DumpEntry = { index: idx, entryAddr: BigInt(table) * 4096n + BigInt(idx * 8), raw: rawEntry(fmt, w, i), decoded, iova: base + BigInt(idx) * spanOf(level) };
      if (k === EntryKind.Table && level > 0 && decoded.kind !== 'invalid') e.child = walk(fmt.outFrame(w, i, level), level - 1, e.iova);
      out.push(e);
    }
    return { level, tableAddr: BigInt(table) * 4096n, entries: out };
  };
  const root = walk(rootFrame, fmt.levels - 1, 0n);
  return { root, truncated: left <= 0 };
}
