import { entryHalves, rawEntry, specLevelOf, type LookupView, type Stage2Memory } from '@ioasid/core';
import { contextEntryFields } from './tables/context-entry.js';
import { pasidEntryFields, PASID_ENTRY_QWORDS } from './tables/pasid-entry.js';
import { readQwords } from './tables/qwords.js';
import type { DeviceAttachment, VtdDomainHost } from './domain-host.js';
import { FL_RW, FL_US, flInputBits, type FirstLevelFormat, type FirstLevelLevels } from './formats/first-level.js';

/**
 * LOOKUP through a guest's first-level table (untrusted), in guest-physical terms, for an
 * unprivileged request: the checks the unit makes, in its order (QEMU vtd_iova_to_flpte): a
 * canonical input, each table fetched through the parent (one the parent does not map readable
 * ends the walk with the fault `fetchFault` names for it), present, U/S, no reserved bits. At most
 * `levels` entries are read, so no table contents can make it loop. The output is a GPA; R/W is
 * what every level grants (ANDed down the walk).
 */
export function guestLookup(
  mem: Stage2Memory,
  fmt: FirstLevelFormat,
  rootGpa: bigint,
  iova: bigint,
  stage: string,
  fetchFault: (gpa: bigint, top: boolean) => string,
): LookupView {
  const inBits = flInputBits(fmt.levels as FirstLevelLevels);
  const upper = iova >> BigInt(inBits - 1);
  if (upper !== 0n && upper !== (1n << BigInt(64 - inBits + 1)) - 1n) {
    return { iova, steps: [], output: null, fault: `FS_NON_CANONICAL: bits 63:${inBits - 1} of the input are not all equal` };
  }
  const steps: LookupView['steps'] = [];
  let table = Number(rootGpa >> 12n);
  let write = true;
  for (let level = fmt.levels - 1; level >= 0; level--) {
    if (!mem.frameMapped(table)) {
      const gpa = BigInt(table) << 12n;
      return { iova, steps, output: null, fault: `${fetchFault(gpa, level === fmt.levels - 1)}: the parent does not map the level-${specLevelOf(fmt, level)} table at GPA 0x${gpa.toString(16)} readable` };
    }
    const index = Number((iova >> BigInt(12 + 9 * level)) & 511n);
    const w = mem.wordsForRead(table);
    const i = mem.wordBase(table) + 2 * index;
    const [lo, hi] = entryHalves(fmt, w, i);
    const decoded = fmt.decode(lo, hi, level);
    const tableAddr = BigInt(table) << 12n;
    const spec = specLevelOf(fmt, level);
    steps.push({ level: spec, index, tableAddr, entryAddr: tableAddr + BigInt(index * 8), raw: rawEntry(fmt, w, i), decoded, stage });
    if (decoded.kind === 'empty') return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_P: not-present entry at level ${spec}` };
    if ((lo & FL_US) === 0) return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_US: supervisor-only entry at level ${spec} (LOOKUP is an unprivileged request)` };
    if (decoded.kind === 'invalid') return { iova, steps, output: null, fault: `FS_PAGING_ENTRY_RSVD: reserved bits set in the entry at level ${spec}` };
    write &&= (lo & FL_RW) !== 0;
    if (decoded.kind === 'leaf') {
      const shift = 12 + 9 * level;
      const offset = iova & ((1n << BigInt(shift)) - 1n);
      return { iova, steps, output: decoded.addr! + offset, perms: { read: true, write }, pageSize: 1n << BigInt(shift) };
    }
    table = Number(decoded.addr! >> 12n);
  }
  return { iova, steps, output: null, fault: 'FS_PAGING_ENTRY_INV: no leaf at level 1' };
}

/** The context and PASID entries of each route a domain is attached at, as they are in memory. */
export function describeRoutes(driver: Pick<VtdDomainHost, 'tables' | 'host'>, attachments: readonly DeviceAttachment[]): Record<string, unknown>[] {
  return attachments.map((a) => {
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
 * The most a DUMP examines (core's ptDumpBounded): 2^22 entry slots (8,192 tables of 512, tens of
 * milliseconds) and 65,536 non-empty entries (256 MiB mapped in 4 KiB pages). A guest's table
 * whose entries point back at the same pages would otherwise fan out without end, and a kernel
 * table of a large range mapped in 4 KiB pages holds millions of entries.
 */
export const DUMP_READS = 1 << 22;
export const DUMP_ENTRIES = 1 << 16;
export const DUMP_LIMITS = { reads: DUMP_READS, entries: DUMP_ENTRIES } as const;
