import type { AllocInjector } from '../memory/alloc-injector.js';
import { IdAllocator } from './id-allocator.js';

/** PASIDs are 20 bits wide (PCIe PASID TLP prefix); PASID 0 is kept for requests without one. */
export const PASID_LIMIT = 1 << 20;

/** Host PASID pool shared by the whole machine (the kernel's global ioasid allocator): O(1), ENOSPC when full. */
export class PasidAllocator {
  private readonly ids: IdAllocator;

  constructor(injector: AllocInjector, readonly limit = PASID_LIMIT) {
    this.ids = new IdAllocator(1, limit, 'host PASID', injector);
  }

  alloc(): number {
    return this.ids.alloc();
  }

  free(pasid: number): void {
    this.ids.free(pasid);
  }

  get inUse(): number {
    return this.ids.inUse;
  }
}
