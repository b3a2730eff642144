import {
  fail,
  getAddrBig,
  RadixPageTable,
  type DeviceDesc,
  type DmaRequest,
  type DomainRequest,
  type HostMemory,
  type IoasidInfo,
  type IommuDriver,
  type IovaRange,
  type TranslateResult,
} from '@ioasid/core';
import { TceFormat } from './formats/tce.js';
import { Phb4 } from './hw/phb.js';
import { PHB_RTT_BAR_ENABLE, PHB_RTT_BASE_ADDRESS } from './hw/registers.js';
import { checkTveTable, Phb4Firmware } from './opal.js';
import { PeAllocator } from './pe-alloc.js';
import { TceWindowDomain, type TceWindowHost } from './domain.js';
import { readRte } from './tables/rtt.js';
import { DDW_BUS_BASE, decodeTve, tveIndex } from './tables/tve.js';
import { defaultWindow, windowsOf, type WindowGeometry } from './window.js';

export interface PowerNvOptions {
  /** PEs of the PHB (512 by default, QEMU's big PHB4). */
  numPes?: number;
  /** skiboot's HW560152 workaround: page kills become PE kills (default true, as skiboot does). */
  hw560152?: boolean;
  /** Entries of the PHB's TCE cache (a power of two). */
  tceCacheEntries?: number;
}

/** One partitionable endpoint: the devices of one IOMMU group (pnv_ioda_pe). */
interface PeState {
  pe: number;
  group: number;
  devices: Set<string>;
  /** Devices per RID (an mdev shares its parent's RID). */
  rids: Map<number, number>;
  /** The kernel's table behind TVE 2·PE while no IOASID owns the PE. */
  idle: RadixPageTable;
  /**
   * Domains with devices of this PE attached; the last one owns the PE's TVEs. More than one only
   * while a group moves onto a nested child.
   */
  holders: TceWindowDomain[];
}

/**
 * The Linux PowerNV IODA2/3 IOMMU side (arch/powerpc/platforms/powernv/pci-ioda.c with VFIO's SPAPR
 * TCE v2 window model): a PE per IOMMU group, a default 32-bit window from binding on, one TCE
 * table per IOASID. Firmware calls go through Phb4Firmware; translation is the PHB model's.
 */
export class PowerNvIommu implements IommuDriver, TceWindowHost {
  readonly vendor = 'power-tce';
  readonly allocFormatKeys = { map: ['window', 'defaultWindow'] } as const; // ALLOC / CREATE_NESTING fields createDomain reads
  readonly unit: Phb4;
  readonly firmware: Phb4Firmware;
  private readonly pes = new Map<number, PeState>();
  private readonly peByGroup = new Map<number, PeState>();
  private readonly byDevice = new Map<string, PeState>();
  /** The PE each RID in use belongs to (the RTT's content, kept by the kernel as Linux's pe_rmap). */
  private readonly byRid = new Map<number, PeState>();
  /** PE numbers below the reserved one, handed out highest first as Linux does. */
  private readonly peNumbers: PeAllocator;
  private readonly idleWindow: WindowGeometry = defaultWindow();
  private readonly idleFormat: TceFormat;

  constructor(
    readonly host: HostMemory,
    options: PowerNvOptions = {},
  ) {
    this.unit = new Phb4(host, { numPes: options.numPes, tceCacheEntries: options.tceCacheEntries });
    this.firmware = new Phb4Firmware(this.unit, host, options.hw560152 ?? true);
    this.peNumbers = new PeAllocator(this.unit.reservedPe);
    const w = this.idleWindow;
    this.idleFormat = new TceFormat({ pageShift: w.pageShift, levels: w.levels, levelBits: w.levelBits });
  }

  // ---- PEs ------------------------------------------------------------------------------

  peOf(dev: DeviceDesc): number | undefined {
    return this.byDevice.get(dev.name)?.pe;
  }

  peOwner(pe: number): TceWindowDomain | null {
    const h = this.pes.get(pe)?.holders;
    return h && h.length > 0 ? h[h.length - 1] : null;
  }

  probeDevice(dev: DeviceDesc): void {
    if (this.byDevice.has(dev.name)) return;
    const ridOwner = this.byRid.get(dev.rid);
    let st = dev.kind === 'mdev' && ridOwner ? ridOwner : this.peByGroup.get(dev.group);
    if (ridOwner && ridOwner !== st) {
      fail('EBUSY', `RID 0x${dev.rid.toString(16)} of ${dev.name} already maps to PE#${ridOwner.pe} (IOMMU group ${ridOwner.group})`);
    }
    if (!st) {
      // Everything that can fail comes before the PE is taken: nothing changes on ENOSPC, ENOMEM or ERANGE.
      this.peNumbers.checkAvailable(dev.name);
      const idle = RadixPageTable.create(this.host, this.idleFormat);
      try {
        checkTveTable(idle.rootAddr);
      } catch (e) {
        idle.destroy();
        throw e;
      }
      const pe = this.peNumbers.alloc(dev.name);
      st = { pe, group: dev.group, devices: new Set(), rids: new Map(), idle, holders: [] };
      this.pes.set(pe, st);
      this.peByGroup.set(dev.group, st);
      this.programWindow(pe, this.idleWindow, idle.rootAddr);
    }
    st.devices.add(dev.name);
    this.byDevice.set(dev.name, st);
    const n = st.rids.get(dev.rid) ?? 0;
    st.rids.set(dev.rid, n + 1);
    if (n === 0) {
      this.byRid.set(dev.rid, st);
      this.firmware.setPe(st.pe, dev.rid, true);
    }
  }

  releaseDevice(dev: DeviceDesc): void {
    const st = this.byDevice.get(dev.name);
    if (!st) return;
    this.byDevice.delete(dev.name);
    st.devices.delete(dev.name);
    const n = st.rids.get(dev.rid) ?? 1;
    if (n > 1) st.rids.set(dev.rid, n - 1);
    else {
      st.rids.delete(dev.rid);
      this.byRid.delete(dev.rid);
      this.firmware.setPe(st.pe, dev.rid, false);
    }
    if (st.devices.size > 0) return;
    for (const d of st.holders) d.forgetPe(st.pe);
    this.firmware.mapPeDmaWindow(st.pe, tveIndex(st.pe, 0), 0, 0n, 0n, 0n);
    this.firmware.mapPeDmaWindow(st.pe, tveIndex(st.pe, 1), 0, 0n, 0n, 0n);
    this.firmware.tceKill('pe', st.pe, 0n, 0n, 0);
    this.firmware.eehFreezeClear(st.pe);
    st.idle.destroy();
    this.pes.delete(st.pe);
    this.peNumbers.free(st.pe);
    if (this.peByGroup.get(st.group) === st) this.peByGroup.delete(st.group);
  }

  /** pnv_pci_ioda2_set_window: TVE through OPAL, then a PE kill. */
  private programWindow(pe: number, w: WindowGeometry, tableAddr: bigint): void {
    this.firmware.mapPeDmaWindow(pe, tveIndex(pe, w.select), w.levels, tableAddr, w.tableSize, 1n << BigInt(w.pageShift));
    this.firmware.tceKill('pe', pe, 0n, 0n, 0);
  }

  /** pnv_pci_ioda2_unset_window: a zero TVE through OPAL, then a PE kill (only for a TVE that is set). */
  private unsetWindow(pe: number, select: 0 | 1): void {
    const n = tveIndex(pe, select);
    if (this.firmware.readTve(n) === 0n) return;
    this.firmware.mapPeDmaWindow(pe, n, 0, 0n, 0n, 0n);
    this.firmware.tceKill('pe', pe, 0n, 0n, 0);
  }

  /**
   * The PE's two TVEs hold exactly the owner's windows (VFIO's take_ownership removes the kernel's
   * default window, then sets each window of the container), or, with no owner, the kernel's
   * default window alone (release_ownership).
   */
  private programPe(st: PeState): void {
    const owner = this.peOwner(st.pe);
    for (const sel of [0, 1] as const) {
      const w = owner ? owner.windowAt(sel) : null;
      if (w) this.programWindow(st.pe, w.geometry, w.tableAddr);
      else if (!owner && sel === 0) this.programWindow(st.pe, this.idleWindow, st.idle.rootAddr);
      else this.unsetWindow(st.pe, sel);
    }
  }

  claimPe(pe: number, domain: TceWindowDomain): void {
    const st = this.pes.get(pe)!;
    const h = st.holders;
    if (h.includes(domain)) h.splice(h.indexOf(domain), 1);
    h.push(domain);
    this.programPe(st);
  }

  /** The TVEs go to the domain still holding devices of the PE, else back to the kernel. */
  releasePe(pe: number, domain: TceWindowDomain): void {
    const st = this.pes.get(pe);
    if (!st || !st.holders.includes(domain)) return;
    const owned = this.peOwner(pe) === domain;
    st.holders.splice(st.holders.indexOf(domain), 1);
    if (owned) this.programPe(st);
  }

  // ---- uAPI-facing ------------------------------------------------------------------------

  /** The windows the PHB's registers and RTT give the device's PE (GET_INFO agrees with them). */
  capabilities(dev: DeviceDesc): IoasidInfo {
    const ranges: IovaRange[] = [];
    const sizes = new Set<bigint>();
    const bar = this.unit.read('PHB_RTT_BAR');
    const pe = bar & PHB_RTT_BAR_ENABLE ? readRte(this.host, Number(getAddrBig(bar, PHB_RTT_BASE_ADDRESS)), dev.rid) : -1;
    if (pe >= 0 && pe < this.unit.reservedPe) {
      for (const sel of [0, 1] as const) {
        const tve = decodeTve(this.firmware.readTve(tveIndex(pe, sel)));
        if (!tve.valid || tve.pageShift === 0) continue;
        const start = sel ? DDW_BUS_BASE : 0n;
        ranges.push({ start, last: start + (1n << BigInt(tve.windowShift)) - 1n });
        sizes.add(1n << BigInt(tve.pageShift));
      }
    }
    return {
      protocols: ['map'],
      nesting: 'software',
      pageSizes: [...sizes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      permittedRanges: ranges,
      formats: [],
      pasidTableFormats: [],
      pasidBits: 0,
      coherent: true,
      enqcmd: false,
      pageRequest: false,
      ats: false,
    };
  }

  createDomain(req: DomainRequest): TceWindowDomain {
    if (req.protocol !== 'map' || req.parent) {
      fail('EOPNOTSUPP', `PHB4 has no hardware nesting: protocol '${req.protocol}' is not supported (nesting is done in software; use 'map')`);
    }
    return new TceWindowDomain(this, windowsOf(req.format ?? {}));
  }

  /** The PHB's translation (the bus sends DMA to the unit; this is for callers holding the driver). */
  translate(req: DmaRequest): TranslateResult {
    return this.unit.translate(req);
  }

  /** EEH recovery: opal_pci_eeh_freeze_clear for the device's PE. */
  resetDevice(dev: DeviceDesc): void {
    const st = this.byDevice.get(dev.name);
    if (!st) fail('ENODEV', `${dev.name} has no PE`);
    this.firmware.eehFreezeClear(st.pe);
  }

  /** Whether the device's PE is frozen (opal_pci_eeh_freeze_status). */
  isFrozen(dev: DeviceDesc): boolean {
    const st = this.byDevice.get(dev.name);
    return st ? this.firmware.frozen(st.pe) : false;
  }
}
