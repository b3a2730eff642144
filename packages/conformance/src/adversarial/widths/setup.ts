import type { Device, IoasidFd, IoasidInfo, Machine } from '@ioasid/core';
import { ConformanceFailure, firstFormat, gpaSpace, guestData, guestTable, newMachine, openFd, pattern, spot, supportsUserPgtable, vmmBuffer, granule } from '../../kit.js';
import type { Caps, KitEnv } from '../../types.js';
import { attempt } from '../api.js';

/** A 'map' IOASID with dev0 and two tagged pages mapped at `base`, plus a spare page to map anywhere. */
export interface MapSpace {
  m: Machine;
  fd: IoasidFd;
  dev: Device;
  ioasid: number;
  info: IoasidInfo;
  g: bigint;
  base: bigint;
  va: bigint;
  spare: bigint;
  tag(page: number): Uint8Array;
}

/** A hardware-nested child (dev1) whose guest table maps one page at gva `gva`. */
export interface Child {
  dev: Device;
  ioasid: number;
  gva: bigint;
  page: bigint;
  bytes: Uint8Array;
}

function need<T>(what: string, fn: () => T): T {
  const r = attempt(what, fn);
  if (!r.ok) throw new ConformanceFailure(`widths: setting up failed at ${what}: ${r.error?.message ?? ''}`);
  return r.value;
}

export function mapSpace(env: KitEnv): MapSpace {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0', 'dev1');
  const dev = devs[0];
  const ioasid = need('ALLOC', () => fd.alloc({ protocol: 'map' }));
  need('ATTACH dev0', () => dev.attachIoasid(ioasid));
  const info = fd.getInfo(ioasid);
  const g = granule(info, 'GET_INFO');
  const base = spot(info.permittedRanges, 2n * g, g, 'widths: the tagged pages', 1n << 24n);
  const va = vmmBuffer(m, 3n * g, g);
  const tag = (p: number) => pattern(0x3000 + p, 8);
  for (let p = 0; p < 3; p++) m.vmm.write(va + BigInt(p) * g, tag(p));
  need('MAP_DMA of the tagged pages', () => fd.mapDma({ ioasid, iova: base, vaddr: va, size: 2n * g }));
  return { m, fd, dev, ioasid, info, g, base, va, spare: va + 2n * g, tag };
}

/** The child, where GET_INFO lists 'user-pgtable'; else undefined. */
export function nestedChild(s: MapSpace, caps: Caps): Child | undefined {
  if (!supportsUserPgtable(caps.dev)) return undefined;
  const dev1 = s.m.device('dev1');
  const { parent, info } = gpaSpace(s.m, s.fd, [dev1]);
  const format = firstFormat(info);
  const child = need('CREATE_NESTING(user-pgtable)', () => s.fd.createNesting({ parent, protocol: 'user-pgtable' }));
  need('ATTACH dev1 → child', () => dev1.attachIoasid(child));
  const gt = guestTable(s.m, format);
  const data = guestData(s.m, gt.page, 0x3100);
  gt.pt.map(gt.page, data.gpa, gt.page);
  need('BIND_PGTABLE', () => s.fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }));
  return { dev: dev1, ioasid: child, gva: gt.page, page: gt.page, bytes: data.bytes };
}
