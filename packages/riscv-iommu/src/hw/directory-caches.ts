import type { DeviceContext } from '../tables/device-context.js';
import type { ProcessContext } from '../tables/process-context.js';

/**
 * The device-directory cache (DDT cache, by device_id) and the process-directory cache (PDT cache,
 * by device_id and process_id), spec §2.7. IODIR.INVAL_DDT removes a device's context and, as
 * QEMU's riscv-iommu.c does with its single context cache, every process context cached for that
 * device; IODIR.INVAL_PDT removes one process context.
 */
export class DirectoryCaches<T = unknown> {
  readonly ddt = new Map<number, DeviceContext>();
  readonly pdt = new Map<number, ProcessContext>();
  /**
   * What the unit derived from a cached DC (and PC) for a (device_id, process_id, privilege): the
   * stages and IDs (T in unit.ts). Part of the same cache entries: it goes with them.
   */
  private readonly derivedByDevice = new Map<number, Map<number, T>>();
  /** The derived entry looked up last, and its device and key (lastDevice -1: none); every invalidation forgets it. */
  private lastDevice = -1;
  private lastKey = -1;
  private lastDerived: T | undefined = undefined;

  static pdtKey(deviceId: number, pid: number): number {
    return deviceId * 2 ** 20 + pid;
  }

  /** Key of a derived entry within its device: process_id + 1 (0 without one) and the privilege bit. */
  static derivedKey(pid: number | undefined, priv: boolean): number {
    return (pid === undefined ? 0 : pid + 1) * 2 + (priv ? 1 : 0);
  }

  /** derivedKey of a request's PASID (-1: none) and privilege (a supervisor request needs a process_id). */
  static requestKey(pasid: number, privileged: boolean): number {
    return pasid < 0 ? 0 : (pasid + 1) * 2 + (privileged ? 1 : 0);
  }

  derived(deviceId: number, key: number): T | undefined {
    if (deviceId === this.lastDevice && key === this.lastKey) return this.lastDerived;
    const v = this.derivedByDevice.get(deviceId)?.get(key);
    if (v !== undefined) {
      this.lastDevice = deviceId;
      this.lastKey = key;
      this.lastDerived = v;
    }
    return v;
  }

  private forgetLast(): void {
    this.lastDevice = -1;
    this.lastDerived = undefined;
  }

  setDerived(deviceId: number, key: number, v: T): void {
    this.forgetLast();
    let m = this.derivedByDevice.get(deviceId);
    if (!m) this.derivedByDevice.set(deviceId, (m = new Map()));
    m.set(key, v);
  }

  invalidateDdt(deviceId: number | undefined): void {
    if (deviceId === undefined) return this.clear();
    this.forgetLast();
    this.ddt.delete(deviceId);
    for (const k of [...this.pdt.keys()]) if (Math.floor(k / 2 ** 20) === deviceId) this.pdt.delete(k);
    this.derivedByDevice.delete(deviceId);
  }

  invalidatePdt(deviceId: number, pid: number): void {
    this.forgetLast();
    this.pdt.delete(DirectoryCaches.pdtKey(deviceId, pid));
    const m = this.derivedByDevice.get(deviceId);
    for (const priv of [false, true]) {
      m?.delete(DirectoryCaches.derivedKey(pid, priv));
      // DPE: requests without a process_id use PC 0.
      if (pid === 0) m?.delete(DirectoryCaches.derivedKey(undefined, priv));
    }
  }

  clear(): void {
    this.forgetLast();
    this.ddt.clear();
    this.pdt.clear();
    this.derivedByDevice.clear();
  }
}
