import { fail } from '../base/errors.js';

/**
 * Counts every allocation a command makes (frames and bookkeeping) and can fail the n-th one,
 * so tests can prove each command leaves state untouched when any allocation fails.
 */
export class AllocInjector {
  /** Allocations counted since the machine was created. */
  count = 0;
  private failAt = 0;

  /** Fail the n-th allocation from now (1 = the very next one); 0 disarms. */
  failNth(n: number): void {
    this.failAt = n > 0 ? this.count + n : 0;
  }

  get armed(): boolean {
    return this.failAt !== 0;
  }

  check(what: string): void {
    this.count++;
    if (this.failAt !== 0 && this.count === this.failAt) {
      this.failAt = 0;
      fail('ENOMEM', `injected allocation failure (${what})`);
    }
  }
}
