import type { Machine } from '@ioasid/core';
import { pattern, vmmBuffer } from '../../kit.js';
import { pageKey } from './model.js';

const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/**
 * The VMM buffers of the topology property, one per fd ever opened: every page starts with an
 * 8-byte tag unique to (fd, page), so the bytes a DMA returns say whose page it reached.
 */
export class Buffers {
  private readonly owners = new Map<string, string>();
  private readonly vaddrs = new Map<number, bigint>();
  private readonly names = new Map<number, string>();

  constructor(
    readonly m: Machine,
    readonly pages: number,
    readonly g: bigint,
  ) {}

  tag(serial: number, page: number): Uint8Array {
    return pattern(20000 + serial * 64 + page, 8);
  }

  /** A new buffer for the fd of `serial` (named `name` in messages), tags written. */
  create(serial: number, name: string): bigint {
    const va = vmmBuffer(this.m, BigInt(this.pages) * this.g, this.g);
    this.vaddrs.set(serial, va);
    this.names.set(serial, name);
    for (let p = 0; p < this.pages; p++) {
      const t = this.tag(serial, p);
      this.m.vmm.write(this.pageVa(serial, p), t);
      this.owners.set(hexOf(t), pageKey(serial, p));
    }
    return va;
  }

  pageVa(serial: number, page: number): bigint {
    return this.vaddrs.get(serial)! + BigInt(page) * this.g;
  }

  /** The page whose tag `bytes` are, if any. */
  owner(bytes: Uint8Array): string | undefined {
    return this.owners.get(hexOf(bytes));
  }

  keys(): string[] {
    const out: string[] = [];
    for (const serial of this.vaddrs.keys()) for (let p = 0; p < this.pages; p++) out.push(pageKey(serial, p));
    return out;
  }

  vaOfKey(key: string): bigint {
    const [serial, page] = key.split(':').map(Number);
    return this.pageVa(serial, page);
  }

  describe(key: string): string {
    const [serial, page] = key.split(':').map(Number);
    return `${this.names.get(serial) ?? `fd#${serial}`}'s buffer page ${page}`;
  }

  list(keys: Iterable<string>): string {
    const all = [...keys].map((k) => this.describe(k));
    return all.length === 0 ? 'nothing' : `only [${all.join(', ')}]`;
  }
}

export { hexOf };
