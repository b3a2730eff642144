import { fail } from '../base/errors.js';
import { hex } from '../base/args.js';
import { PAGE_SHIFT } from '../memory/host-memory.js';

export interface Registration {
  vaddr: bigint;
  size: bigint;
}

/**
 * Pinned-page accounting of one fd (RLIMIT_MEMLOCK-like). Pre-registered ranges are charged
 * once at REGISTER_MEMORY; maps inside them are not charged again.
 */
export class PinAccounting {
  lockedPages = 0;
  readonly registrations: Registration[] = [];

  constructor(readonly limitPages: number) {}

  static pages(size: bigint): number {
    return Number(size >> BigInt(PAGE_SHIFT));
  }

  checkCharge(pages: number, what: string): void {
    if (this.lockedPages + pages > this.limitPages) {
      fail('ENOMEM', `${what} would lock ${this.lockedPages + pages} pages, over the memlock limit of ${this.limitPages} pages`);
    }
  }

  registrationHolding(vaddr: bigint, size: bigint): Registration | undefined {
    return this.registrations.find((r) => vaddr >= r.vaddr && vaddr + size <= r.vaddr + r.size);
  }

  overlapping(vaddr: bigint, size: bigint): Registration | undefined {
    return this.registrations.find((r) => vaddr < r.vaddr + r.size && r.vaddr < vaddr + size);
  }

  describe(r: Registration): string {
    return `${hex(r.vaddr)}+${hex(r.size)}`;
  }
}
