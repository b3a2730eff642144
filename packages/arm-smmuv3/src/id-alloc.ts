import { fail } from '@ioasid/core';

/** A small-integer allocator (VMIDs, ASIDs), lowest free first. */
export class IdAllocator {
  private readonly used = new Set<number>();

  constructor(
    private readonly first: number,
    private readonly limit: number,
    private readonly what: string,
  ) {}

  alloc(): number {
    for (let id = this.first; id < this.limit; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    fail('ENOSPC', `no free ${this.what}`);
  }

  free(id: number): void {
    this.used.delete(id);
  }

  get inUse(): number {
    return this.used.size;
  }
}
