import { fail, type DeviceDesc, type HostMemory } from '@ioasid/core';
import {
  contextEntryAddr, decodeContextEntry, encodeContextEntry, SM_CONTEXT_ENTRIES, type SmContextEntry,
} from './tables/context-entry.js';
import { encodePasidDirEntry, decodePasidDirEntry, pasidDirEntryAddr, pasidDirIndex } from './tables/pasid-dir.js';
import { PASID_ENTRY_QWORDS, pasidEntryAddr } from './tables/pasid-entry.js';
import { DEVFN_UPPER, decodeRootEntry, encodeRootEntry, rootEntryAddr } from './tables/root-table.js';
import { readQwords, writeQwords, hex } from './tables/qwords.js';
import { checkHostPointer } from './host-address.js';

/** PASID directory size Linux programs for 20-bit PASIDs: PDTS 7 → 2^14 entries, 128 KiB (32 pages). */
export const PDTS = 7;
const DIR_FRAMES = (1 << (PDTS + 7)) * 8 / 4096;

/** The kernel's record of one requester ID: its PASID directory and the PASID tables below it. */
export interface RidState {
  rid: number;
  devices: Set<string>;
  dirFrame: number;
  /** PASID tables by directory index. */
  tables: Map<number, number>;
  dte: boolean;
  pre: boolean;
}

/**
 * Root table, scalable-mode context tables and per-device PASID directories, as Linux builds them
 * (drivers/iommu/intel/iommu.c iommu_context_addr, pasid.c intel_pasid_alloc_table and
 * context_entry_set_pasid_table): the context entry is written when the device is probed.
 */
export class ContextTables {
  readonly rootFrame: number;
  private readonly contextTables = new Map<number, number>(); // bus*2 + upper → frame
  private readonly rids = new Map<number, RidState>();

  constructor(
    private readonly host: HostMemory,
    /** The unit's host address width: every table pointer written here must lie below 2^haw. */
    readonly haw: number,
  ) {
    const root = host.allocFrame();
    try {
      checkHostPointer(root, 1, haw, 'root table (RTADDR_REG.RTA)');
    } catch (e) {
      host.freeFrame(root);
      throw e;
    }
    this.rootFrame = root;
  }

  get rootAddr(): bigint {
    return BigInt(this.rootFrame) * 4096n;
  }

  rid(rid: number): RidState | undefined {
    return this.rids.get(rid);
  }

  get allRids(): RidState[] {
    return [...this.rids.values()];
  }

  /** Context entry address for `rid`, allocating its context table if `alloc`. */
  private contextAddr(rid: number, alloc: boolean, allocated: number[]): bigint | null {
    const bus = rid >>> 8;
    const devfn = rid & 0xff;
    const upper = (devfn & DEVFN_UPPER) !== 0;
    const key = bus * 2 + (upper ? 1 : 0);
    let table = this.contextTables.get(key);
    if (table === undefined) {
      if (!alloc) return null;
      table = this.host.allocFrame();
      allocated.push(table);
    }
    return contextEntryAddr(BigInt(table) * 4096n, devfn);
  }

  /**
   * Sets up the requester ID of `dev` (once per RID; mdevs share their parent's). Returns whether
   * the context entry changed for an already present RID (the caller then flushes).
   */
  probe(dev: DeviceDesc, caps: { dt: boolean; prs: boolean }): { state: RidState; changed: boolean } {
    const existing = this.rids.get(dev.rid);
    const dte = dev.ats && caps.dt;
    const pre = dev.pri && caps.prs;
    if (existing) {
      existing.devices.add(dev.name);
      if ((dte && !existing.dte) || (pre && !existing.pre)) {
        existing.dte ||= dte;
        existing.pre ||= pre;
        this.writeContext(existing);
        return { state: existing, changed: true };
      }
      return { state: existing, changed: false };
    }
    const allocated: number[] = [];
    let dir = -1;
    try {
      this.contextAddr(dev.rid, true, allocated);
      for (const f of allocated) checkHostPointer(f, 1, this.haw, 'context table (root entry CTP)');
      dir = this.host.allocFrames(DIR_FRAMES, 1);
      checkHostPointer(dir, DIR_FRAMES, this.haw, 'PASID directory (context entry PASIDDIRPTR)');
    } catch (e) {
      for (const f of allocated) this.host.freeFrame(f);
      if (dir >= 0) this.host.freeFrames(dir, DIR_FRAMES);
      throw e;
    }
    for (const f of allocated) this.installContextTable(dev.rid, f);
    const state: RidState = { rid: dev.rid, devices: new Set([dev.name]), dirFrame: dir, tables: new Map(), dte, pre };
    this.rids.set(dev.rid, state);
    this.writeContext(state);
    return { state, changed: false };
  }

  private installContextTable(rid: number, frame: number): void {
    const bus = rid >>> 8;
    const upper = ((rid & 0xff) & DEVFN_UPPER) !== 0;
    this.contextTables.set(bus * 2 + (upper ? 1 : 0), frame);
    const ra = rootEntryAddr(this.rootAddr, bus);
    const re = decodeRootEntry(readQwords(this.host, ra, 2));
    const addr = BigInt(frame) * 4096n;
    writeQwords(this.host, ra, encodeRootEntry(upper ? { ...re, up: true, uctp: addr } : { ...re, lp: true, lctp: addr }));
  }

  private writeContext(s: RidState): void {
    const e: SmContextEntry = {
      p: true,
      fpd: false,
      dte: s.dte,
      paside: true,
      pre: s.pre,
      pdts: PDTS,
      pasidDirPtr: BigInt(s.dirFrame) * 4096n,
      ridPasid: 0,
      ridPriv: false,
    };
    writeQwords(this.host, this.contextAddr(s.rid, false, [])!, encodeContextEntry(e));
  }

  /** Removes `dev`; when the last device of the RID goes, clears the context entry and frees its tables. True then. */
  release(dev: DeviceDesc): boolean {
    const s = this.rids.get(dev.rid);
    if (!s || !s.devices.delete(dev.name) || s.devices.size > 0) return false;
    writeQwords(this.host, this.contextAddr(dev.rid, false, [])!, [0n, 0n, 0n, 0n]);
    for (const t of s.tables.values()) this.host.freeFrame(t);
    this.host.freeFrames(s.dirFrame, DIR_FRAMES);
    this.rids.delete(dev.rid);
    return true;
  }

  /** Address of the PASID entry of (rid, pasid); allocates its PASID table when `alloc` (all-or-nothing). */
  pasidEntryAddr(rid: number, pasid: number, alloc: boolean): bigint | null {
    const s = this.rids.get(rid);
    if (!s) fail('EINVAL', `requester ID ${hex(rid)} has no context entry (device not probed)`);
    const di = pasidDirIndex(pasid);
    let table = s.tables.get(di);
    if (table === undefined) {
      if (!alloc) return null;
      const t = this.host.allocFrame();
      try {
        checkHostPointer(t, 1, this.haw, 'PASID table (PASID directory entry PTP)');
      } catch (e) {
        this.host.freeFrame(t);
        throw e;
      }
      table = t;
      s.tables.set(di, table);
      writeQwords(this.host, pasidDirEntryAddr(BigInt(s.dirFrame) * 4096n, pasid), [encodePasidDirEntry({ p: true, fpd: false, ptp: BigInt(table) * 4096n })]);
    }
    return pasidEntryAddr(BigInt(table) * 4096n, pasid);
  }

  readPasidEntry(rid: number, pasid: number): bigint[] | null {
    const a = this.pasidEntryAddr(rid, pasid, false);
    return a === null ? null : readQwords(this.host, a, PASID_ENTRY_QWORDS);
  }

  /** The context entry of `rid` as it is in memory (for views). */
  readContext(rid: number): SmContextEntry | null {
    const a = this.contextAddr(rid, false, []);
    return a === null ? null : decodeContextEntry(readQwords(this.host, a, 4));
  }

  contextEntryAddress(rid: number): bigint | null {
    return this.contextAddr(rid, false, []);
  }

  dirEntry(rid: number, pasid: number): ReturnType<typeof decodePasidDirEntry> | null {
    const s = this.rids.get(rid);
    if (!s) return null;
    return decodePasidDirEntry(readQwords(this.host, pasidDirEntryAddr(BigInt(s.dirFrame) * 4096n, pasid), 1)[0]);
  }

  static readonly ENTRIES_PER_CONTEXT_TABLE = SM_CONTEXT_ENTRIES;
}
