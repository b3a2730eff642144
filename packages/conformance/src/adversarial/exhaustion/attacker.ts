import type { Device, IoasidFd, Machine } from '@ioasid/core';
import { ConformanceFailure, pattern, vmmBuffer } from '../../kit.js';
import type { Window } from '../../properties/common.js';
import { attempt } from '../api.js';
import { hexn } from '../show.js';

/**
 * The attacker's own fd: 'att' attached to a first IOASID that maps one tagged page. Its DMA
 * must keep reading its own page (and never the victim's) while it exhausts a resource.
 */
export class Attacker {
  private constructor(
    readonly m: Machine,
    readonly fd: IoasidFd,
    readonly dev: Device,
    readonly ioasid: number,
    private readonly iova: bigint,
    private readonly tag: Uint8Array,
  ) {}

  static create(m: Machine, w: Window): Attacker {
    const need = <T>(what: string, fn: () => T): T => {
      const r = attempt(what, fn);
      if (!r.ok) throw new ConformanceFailure(`exhaustion: setting up the attacker fd failed at ${what}: ${r.error?.message ?? ''}`);
      return r.value;
    };
    const fd = need('open the attacker fd', () => m.openIoasidFd());
    const dev = m.device('att');
    need('BIND_IOASID_FD(att)', () => dev.bindIoasidFd(fd, { label: 'attacker' }));
    const ioasid = need('ALLOC', () => fd.alloc({ protocol: 'map' }));
    need('ATTACH(att)', () => dev.attachIoasid(ioasid));
    const va = vmmBuffer(m, w.g, w.g);
    const tag = pattern(0xa77, 16);
    m.vmm.write(va, tag);
    const iova = w.base + 64n * w.g;
    need('MAP_DMA of the attacker page', () => fd.mapDma({ ioasid, iova, vaddr: va, size: w.g }));
    return new Attacker(m, fd, dev, ioasid, iova, tag);
  }

  /** The attacker's device still reads exactly its own page. */
  check(at: string): void {
    const r = attempt(`att.dmaRead(${hexn(this.iova)})`, () => this.dev.dmaRead(this.iova, 16), true);
    if (!r.ok) {
      if (r.fault) attempt('reset att', () => this.dev.reset());
      throw new ConformanceFailure(`isolation: ${at} changed the attacker's own DMA at iova ${hexn(this.iova)}: it now fails (${r.fault ? `DmaFault ${r.fault.record.name}` : r.error.message}) — its page table was handed out or overwritten`);
    }
    if (r.value.some((b, i) => b !== this.tag[i])) {
      throw new ConformanceFailure(`isolation: ${at}: the attacker's DMA at iova ${hexn(this.iova)} reads [${[...r.value.subarray(0, 8)].map((b) => b.toString(16)).join(' ')}], not its own page — its translation now reaches other memory`);
    }
  }
}
