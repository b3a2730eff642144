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
  readonly derived = new Map<number, T>();

  static pdtKey(deviceId: number, pid: number): number {
    return deviceId * 2 ** 20 + pid;
  }

  /** Key of a derived entry: process_id + 1 (0 without one) and the privilege bit. */
  static derivedKey(deviceId: number, pid: number | undefined, priv: boolean): number {
    return (deviceId * 2 ** 21 + (pid === undefined ? 0 : pid + 1)) * 2 + (priv ? 1 : 0);
  }

  invalidateDdt(deviceId: number | undefined): void {
    if (deviceId === undefined) return this.clear();
    this.ddt.delete(deviceId);
    for (const k of [...this.pdt.keys()]) if (Math.floor(k / 2 ** 20) === deviceId) this.pdt.delete(k);
    for (const k of [...this.derived.keys()]) if (Math.floor(k / 2 ** 22) === deviceId) this.derived.delete(k);
  }

  invalidatePdt(deviceId: number, pid: number): void {
    this.pdt.delete(DirectoryCaches.pdtKey(deviceId, pid));
    for (const priv of [false, true]) this.derived.delete(DirectoryCaches.derivedKey(deviceId, pid, priv));
    // DPE: requests without a process_id use PC 0.
    if (pid === 0) for (const priv of [false, true]) this.derived.delete(DirectoryCaches.derivedKey(deviceId, undefined, priv));
  }

  clear(): void {
    this.ddt.clear();
    this.pdt.clear();
    this.derived.clear();
  }
}
