import { fail } from '../base/errors.js';
import type { AllocInjector } from '../memory/alloc-injector.js';

/**
 * A small-integer ID space [first, limit) (host PASIDs, domain IDs, ASIDs, VMIDs) with O(1)
 * alloc and free. IDs are handed out in ascending order until the space has been used once;
 * after that the oldest freed ID comes back first, so a just-freed ID is not reused at once
 * (a stale tag in a cache or queue then never meets a new owner straight away).
 * Past the limit: ENOSPC naming the space.
 */
export class IdAllocator {
  private next: number;
  /** One bit per ID: in use. */
  private readonly used: Uint32Array;
  /** FIFO of freed IDs (a ring over a typed array that grows by doubling). */
  private ring = new Int32Array(16);
  private head = 0;
  private count = 0;
  private live = 0;

  constructor(
    readonly first: number,
    readonly limit: number,
    readonly what: string,
    private readonly injector?: AllocInjector,
  ) {
    if (!Number.isInteger(first) || !Number.isInteger(limit) || first < 0 || limit <= first || limit > 2 ** 31) {
      throw new RangeError(`IdAllocator(${first}, ${limit}): not a valid ID space`);
    }
    this.next = first;
    this.used = new Uint32Array(Math.ceil(limit / 32));
  }

  /** How many IDs the space holds. */
  get capacity(): number {
    return this.limit - this.first;
  }

  get inUse(): number {
    return this.live;
  }

  has(id: number): boolean {
    return id >= this.first && id < this.limit && (this.used[id >>> 5] & (1 << (id & 31))) !== 0;
  }

  /** Whether alloc() would succeed (ignoring injected failures). */
  get available(): number {
    return this.capacity - this.live;
  }

  alloc(): number {
    if (this.live >= this.capacity) fail('ENOSPC', `all ${this.capacity} ${this.what}s are in use`);
    this.injector?.check(this.what);
    let id: number;
    if (this.next < this.limit) {
      id = this.next++;
    } else {
      id = this.ring[this.head];
      this.head = (this.head + 1) % this.ring.length;
      this.count--;
    }
    this.used[id >>> 5] |= 1 << (id & 31);
    this.live++;
    return id;
  }

  free(id: number): void {
    if (!this.has(id)) return;
    this.used[id >>> 5] &= ~(1 << (id & 31));
    this.live--;
    if (this.count === this.ring.length) {
      const bigger = new Int32Array(this.ring.length * 2);
      for (let i = 0; i < this.count; i++) bigger[i] = this.ring[(this.head + i) % this.ring.length];
      this.ring = bigger;
      this.head = 0;
    }
    this.ring[(this.head + this.count) % this.ring.length] = id;
    this.count++;
  }
}
