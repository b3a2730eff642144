import type { Device, IoasidFd, Machine } from '@ioasid/core';
import { ConformanceFailure, pattern, vmmBuffer } from '../../kit.js';
import type { Window } from '../../properties/common.js';
import { attempt } from '../api.js';
import { hexn } from '../show.js';

/** The devices of an exhaustion machine: the victim, the attacker, and a parent with an mdev. */
export const EXHAUSTION_DEVICES = [{ name: 'vic' }, { name: 'att' }, { name: 'pf' }, { name: 'md', kind: 'mdev' as const, parent: 'pf' }];

const PAGES = 4;

/**
 * Another fd's secret while an attacker exhausts a resource: fd "victim" maps 4 pages of full
 * 4 KiB patterns for device 'vic'. `check` says whether their bytes (read by the VMM) and what
 * 'vic' reads by DMA are still exactly what they were.
 */
export class Witness {
  private constructor(
    readonly m: Machine,
    readonly fd: IoasidFd,
    readonly dev: Device,
    readonly va: bigint,
    readonly w: Window,
    private readonly bytes: Uint8Array[],
  ) {}

  static create(m: Machine, w: Window): Witness {
    const fail = (what: string, r: { error?: { message: string } }) => new ConformanceFailure(`exhaustion: setting up the victim fd failed at ${what}: ${r.error?.message ?? ''}`);
    const fd = attempt('open the victim fd', () => m.openIoasidFd());
    if (!fd.ok) throw fail('open', fd);
    const dev = m.device('vic');
    const b = attempt('BIND_IOASID_FD(vic)', () => dev.bindIoasidFd(fd.value, { label: 'victim' }));
    if (!b.ok) throw fail('BIND_IOASID_FD', b);
    const a = attempt('ALLOC', () => fd.value.alloc({ protocol: 'map' }));
    if (!a.ok) throw fail('ALLOC', a);
    const at = attempt('ATTACH(vic)', () => dev.attachIoasid(a.value));
    if (!at.ok) throw fail('ATTACH', at);
    const va = vmmBuffer(m, BigInt(PAGES) * w.g, w.g);
    const bytes = [...Array(PAGES).keys()].map((p) => pattern(0x5ec0 + p, 4096));
    bytes.forEach((b, p) => m.vmm.write(va + BigInt(p) * w.g, b));
    const mp = attempt('MAP_DMA of the victim buffer', () => fd.value.mapDma({ ioasid: a.value, iova: w.base, vaddr: va, size: BigInt(PAGES) * w.g }));
    if (!mp.ok) throw fail('MAP_DMA', mp);
    return new Witness(m, fd.value, dev, va, w, bytes);
  }

  /** Fails (rule "isolation") when anything the attacker did reached the victim's pages. */
  check(at: string): void {
    for (let p = 0; p < PAGES; p++) {
      const va = this.va + BigInt(p) * this.w.g;
      const got = attempt(`vmm.read of the victim buffer`, () => this.m.vmm.read(va, 4096));
      if (!got.ok) throw new ConformanceFailure(`isolation: ${at}: the VMM can no longer read the victim fd's buffer page ${p} (${got.error?.message ?? ''})`);
      const diff = got.value.findIndex((b, i) => b !== this.bytes[p][i]);
      if (diff >= 0) {
        throw new ConformanceFailure(
          `isolation: ${at} changed the bytes of the victim fd's buffer page ${p} (vaddr ${hexn(va)}): offset ${diff} is ${hexn(got.value[diff])}, was ${hexn(this.bytes[p][diff])} — another fd's memory was handed out or written`,
        );
      }
      const iova = this.w.base + BigInt(p) * this.w.g;
      const r = attempt(`vic.dmaRead(${hexn(iova)})`, () => this.dev.dmaRead(iova, 64), true);
      if (!r.ok) {
        if (r.fault) attempt('reset vic', () => this.dev.reset());
        throw new ConformanceFailure(`isolation: ${at} changed the victim's DMA result at iova ${hexn(iova)}: it now fails (${r.fault ? `DmaFault ${r.fault.record.name}` : r.error.message})`);
      }
      const bad = r.value.findIndex((b, i) => b !== this.bytes[p][i]);
      if (bad >= 0) throw new ConformanceFailure(`isolation: ${at} changed what the victim's device reads at iova ${hexn(iova)}: byte ${bad} is ${hexn(r.value[bad])}, was ${hexn(this.bytes[p][bad])}`);
    }
  }
}
