import type { DeviceContext } from '../tables/device-context.js';
import type { ProcessContext } from '../tables/process-context.js';

/**
 * The device-directory cache (DDT cache, by device_id) and the process-directory cache (PDT cache,
 * by device_id and process_id), spec §2.7. IODIR.INVAL_DDT removes a device's context and, as
 * QEMU's riscv-iommu.c does with its single context cache, every process context cached for that
 * device; IODIR.INVAL_PDT removes one process context.
 */
export class DirectoryCaches {
  readonly ddt = new Map<number, DeviceContext>();
  readonly pdt = new Map<number, ProcessContext>();

  static pdtKey(deviceId: number, pid: number): number {
    return deviceId * 2 ** 20 + pid;
  }

  invalidateDdt(deviceId: number | undefined): void {
    if (deviceId === undefined) {
      this.ddt.clear();
      this.pdt.clear();
      return;
    }
    this.ddt.delete(deviceId);
    for (const k of [...this.pdt.keys()]) if (Math.floor(k / 2 ** 20) === deviceId) this.pdt.delete(k);
  }

  invalidatePdt(deviceId: number, pid: number): void {
    this.pdt.delete(DirectoryCaches.pdtKey(deviceId, pid));
  }

  clear(): void {
    this.ddt.clear();
    this.pdt.clear();
  }
}
