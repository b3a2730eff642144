import {
  entryHalves,
  rawEntry,
  type DumpBudget,
  type DumpTable,
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
import { FL_RW, FL_US, flInputBits, type FirstLevelFormat, type FirstLevelLevels } from './formats/first-level.js';

const ZERO_FRAME = new Uint32Array(1024);

/**
 * Guest-physical memory as the unit sees it for a nested walk: each guest frame through the
 * parent's second-level table (decoded from memory), read-only. Frames the second level does not
 * map for reading, and frames at or beyond its input width (where the unit faults
 * ADDR_BEYOND_MGAW instead of wrapping the index), read as zeros, as a debugger would show them.
 */
export class GuestPhysicalView implements FrameMemory {
  private lastGfn = -1;
  private lastHost = -1;
  /** First guest frame the second level cannot translate (2^(AW - 12)). */
  private readonly limit: number;

  constructor(
    private readonly host: HostMemory,
    private readonly secondLevel: RadixPageTable,
  ) {
    this.limit = secondLevel.spanFrames;
  }

  private hostFrame(gfn: number): number {
    if (gfn !== this.lastGfn) {
      this.lastGfn = gfn;
      // A table fetch is a read: a frame the second level maps without read access is not fetched either.
      const leaf = gfn >= 0 && gfn < this.limit ? this.secondLevel.lookup(gfn) : null;
      this.lastHost = leaf && (leaf.perms & PROT_READ) !== 0 ? leaf.frame : -1;
    }
    return this.lastHost;
  }

  /** Whether the parent maps guest frame `gfn` (a table there is fetched, not a fault). */
  mapped(gfn: number): boolean {
    return this.hostFrame(gfn) >= 0;
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

/**
 * LOOKUP through one radix table the kernel built, decoded from memory: each level's entry and
 * the result. An IOVA at or beyond the table's input width is not looked up (the unit faults
 * ADDR_BEYOND_MGAW there; the table's index would wrap).
 */
export function engineLookup(table: RadixPageTable, iova: bigint, stage: string): LookupView {
  const inputBits = 12 + Math.log2(table.spanFrames);
  if (iova >> BigInt(inputBits) !== 0n) {
    return { iova, steps: [], output: null, fault: `ADDR_BEYOND_MGAW: beyond the ${inputBits}-bit input of the ${stage} table` };
  }
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

/**
 * LOOKUP through a guest's first-level table (untrusted), in guest-physical terms, for an
 * unprivileged request: the checks the unit makes, in its order (QEMU vtd_iova_to_flpte): a
 * canonical input, each table fetched through the parent (an unmapped one ends the walk),
 * present, U/S, no reserved bits. At most `levels` entries are read, so no table contents can
 * make it loop. The output is a GPA; R/W is what every level grants (ANDed down the walk).
 */
export function guestLookup(mem: GuestPhysicalView, fmt: FirstLevelFormat, rootGpa: bigint, iova: bigint, stage: string): LookupView {
  const inBits = flInputBits(fmt.levels as FirstLevelLevels);
  const upper = iova >> BigInt(inBits - 1);
  if (upper !== 0n && upper !== (1n << BigInt(64 - inBits + 1)) - 1n) {
    return { iova, steps: [], output: null, fault: `FS_NON_CANONICAL: bits 63:${inBits - 1} of the input are not all equal` };
  }
  const steps: LookupView['steps'] = [];
  let table = Number(rootGpa >> 12n);
  let write = true;
  for (let level = fmt.levels - 1; level >= 0; level--) {
    if (!mem.mapped(table)) {
      const why = level === fmt.levels - 1 ? 'PASID_ENTRY_FSPTPTR_INV' : 'FS_PAGING_ENTRY_INV';
      return { iova, steps, output: null, fault: `${why}: the parent does not map the level-${level} table at GPA 0x${(BigInt(table) << 12n).toString(16)}` };
    }
    const index = Number((iova >> BigInt(12 + 9 * level)) & 511n);
    const w = mem.wordsForRead(table);
    const i = mem.wordBase(table) + 2 * index;
    const [lo, hi] = entryHalves(fmt, w, i);
    const decoded = fmt.decode(lo, hi, level);
    const tableAddr = BigInt(table) << 12n;
    steps.push({ level, index, tableAddr, entryAddr: tableAddr + BigInt(index * 8), raw: rawEntry(fmt, w, i), decoded, stage });
    if (decoded.kind === 'empty') return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_P: not-present entry at level ${level}` };
    if ((lo & FL_US) === 0) return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_US: supervisor-only entry at level ${level} (LOOKUP is an unprivileged request)` };
    if (decoded.kind === 'invalid') return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_RSVD: reserved bits set in the entry at level ${level}` };
    write &&= (lo & FL_RW) !== 0;
    if (decoded.kind === 'leaf') {
      const shift = 12 + 9 * level;
      const offset = iova & ((1n << BigInt(shift)) - 1n);
      return { iova, steps, output: decoded.addr! + offset, perms: { read: true, write }, pageSize: 1n << BigInt(shift) };
    }
    table = Number(decoded.addr! >> 12n);
  }
  return { iova, steps, output: null, fault: 'FS_PAGING_ENTRY_INV: no leaf at level 0' };
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
 * The most a DUMP examines: 2^22 entry slots (8,192 tables of 512, tens of milliseconds) and
 * 65,536 non-empty entries (256 MiB mapped in 4 KiB pages). A guest's table whose entries point
 * back at the same pages would otherwise fan out without end, and a kernel table of a large range
 * mapped in 4 KiB pages holds millions of entries.
 */
export const DUMP_READS = 1 << 22;
export const DUMP_ENTRIES = 1 << 16;

/** The table as memory holds it (RadixPageTable.dump), within DUMP_READS / DUMP_ENTRIES; `truncated` says whether it stopped early. */
export function boundedDump(table: RadixPageTable, inputBase = 0n): { root: DumpTable; truncated: boolean } {
  const budget: DumpBudget = { reads: DUMP_READS, entries: DUMP_ENTRIES, truncated: false };
  const root = table.dump(inputBase, budget);
  return { root, truncated: budget.truncated };
}
