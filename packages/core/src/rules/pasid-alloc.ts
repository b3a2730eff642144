import { fail } from '../uapi/errors.js';
import type { AllocInjector } from '../memory/alloc-injector.js';

/** Host PASID pool shared by the whole machine (the kernel's global ioasid allocator). */
export class PasidAllocator {
  private readonly used = new Set<number>();
  private next = 1;

  constructor(
    private readonly injector: AllocInjector,
    readonly limit = 1 << 20,
  ) {}

  alloc(): number {
    this.injector.check('host PASID');
    for (let n = 0; n < this.limit - 1; n++) {
      const p = this.next;
      this.next = this.next + 1 >= this.limit ? 1 : this.next + 1;
      if (!this.used.has(p)) {
        this.used.add(p);
        return p;
      }
    }
    fail('ENOSPC', 'the host PASID space is exhausted');
  }

  free(pasid: number): void {
    this.used.delete(pasid);
  }

  get inUse(): number {
    return this.used.size;
  }
}
