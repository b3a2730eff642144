import type { Device, IoasidFd, Machine } from '@ioasid/core';
import { IOASID_COMMANDS } from '@ioasid/core';
import type { Kind } from './values.js';

export interface Field {
  kind: Kind;
  optional?: boolean;
}

/** A positional argument: an object of named fields, or one value. */
export type Param = { obj: Record<string, Field>; optional?: boolean } | { one: Field };

/** The live state junk calls are made against. */
export interface JunkCtx {
  m: Machine;
  fd: IoasidFd;
  /** A 'map' IOASID with dev0 attached and `va` mapped at `iova`. */
  a: number;
  /** A second, empty IOASID (FREE's valid target). */
  spare: number;
  /** A hardware-nested child, when the vendor has one, else `a`. */
  child: number;
  childFormat: Record<string, unknown>;
  va: bigint;
  iova: bigint;
  g: bigint;
  dev0: Device;
  dev1: Device;
  /** A device bound to nothing (BIND_IOASID_FD's valid subject). */
  free: Device;
}

export interface CallSpec {
  name: string;
  params: Param[];
  valid(c: JunkCtx): unknown[];
  call(c: JunkCtx, args: unknown[]): unknown;
  /** A DMA: DmaFault means it went on the bus. */
  dma?: boolean;
  /** A query that may answer junk (CHECK_EXTENSION → 0) instead of refusing it. */
  query?: boolean;
}

const f = (kind: Kind, optional = false): Field => ({ kind, optional });
const range = { ioasid: f('ioasid'), iova: f('u64'), size: f('u64') };

/** Every fd command, device call, KVM call and VMM entry point with its argument shapes. */
export function callSpecs(fd: IoasidFd): CallSpec[] {
  const specs: CallSpec[] = [
    { name: 'CHECK_EXTENSION', params: [{ one: f('ext') }], valid: () => ['unmap-all'], call: (c, a) => c.fd.checkExtension(a[0] as never), query: true },
    { name: 'REGISTER_MEMORY', params: [{ obj: { vaddr: f('u64'), size: f('u64') } }], valid: (c) => [{ vaddr: c.va, size: c.g }], call: (c, a) => c.fd.registerMemory(a[0] as never) },
    { name: 'UNREGISTER_MEMORY', params: [{ obj: { vaddr: f('u64'), size: f('u64') } }], valid: (c) => [{ vaddr: c.va, size: c.g }], call: (c, a) => c.fd.unregisterMemory(a[0] as never) },
    { name: 'ALLOC', params: [{ obj: { protocol: f('protocol') } }], valid: () => [{ protocol: 'map' }], call: (c, a) => c.fd.alloc(a[0] as never) },
    { name: 'FREE', params: [{ one: f('ioasid') }], valid: (c) => [c.spare], call: (c, a) => c.fd.free(a[0] as never) },
    { name: 'GET_INFO', params: [{ one: f('ioasid') }], valid: (c) => [c.a], call: (c, a) => c.fd.getInfo(a[0] as never) },
    {
      name: 'MAP_DMA',
      params: [{ obj: { ioasid: f('ioasid'), iova: f('u64'), vaddr: f('u64'), size: f('u64'), read: f('bool', true), write: f('bool', true) } }],
      valid: (c) => [{ ioasid: c.a, iova: c.iova + 8n * c.g, vaddr: c.va, size: c.g, read: true, write: true }],
      call: (c, a) => c.fd.mapDma(a[0] as never),
    },
    { name: 'UNMAP_DMA', params: [{ obj: range }], valid: (c) => [{ ioasid: c.a, iova: c.iova, size: c.g }], call: (c, a) => c.fd.unmapDma(a[0] as never) },
    { name: 'UNMAP_DMA(all)', params: [{ obj: { ioasid: f('ioasid'), all: f('bool') } }], valid: (c) => [{ ioasid: c.a, all: true }], call: (c, a) => c.fd.unmapDma(a[0] as never) },
    { name: 'CREATE_NESTING', params: [{ obj: { parent: f('ioasid'), protocol: f('protocol') } }], valid: (c) => [{ parent: c.a, protocol: 'map' }], call: (c, a) => c.fd.createNesting(a[0] as never) },
    {
      name: 'BIND_PGTABLE',
      params: [{ obj: { ioasid: f('ioasid'), addr: f('u64'), format: f('format') } }],
      valid: (c) => [{ ioasid: c.child, addr: 0x10000n, format: { ...c.childFormat } }],
      call: (c, a) => c.fd.bindPgtable(a[0] as never),
    },
    {
      name: 'BIND_PASID_TABLE',
      params: [{ obj: { ioasid: f('ioasid'), addr: f('u64'), format: f('format') } }],
      valid: (c) => [{ ioasid: c.child, addr: 0x10000n, format: { kind: 'x' } }],
      call: (c, a) => c.fd.bindPasidTable(a[0] as never),
    },
    {
      name: 'INVALIDATE_CACHE',
      params: [{ obj: { ...range, pasid: f('pasid', true) } }],
      valid: (c) => [{ ioasid: c.a, iova: c.iova, size: c.g }],
      call: (c, a) => c.fd.invalidateCache(a[0] as never),
    },
    { name: 'INVALIDATE_CACHE(all)', params: [{ obj: { ioasid: f('ioasid'), all: f('bool'), pasid: f('pasid', true) } }], valid: (c) => [{ ioasid: c.a, all: true }], call: (c, a) => c.fd.invalidateCache(a[0] as never) },
    { name: 'READ_FAULTS', params: [{ one: f('ioasid') }], valid: (c) => [c.a], call: (c, a) => c.fd.readFaults(a[0] as never) },
    { name: 'PAGE_RESPONSE', params: [{ obj: { ioasid: f('ioasid'), id: f('int'), code: f('code') } }], valid: (c) => [{ ioasid: c.a, id: 1, code: 'success' }], call: (c, a) => c.fd.pageResponse(a[0] as never) },
    { name: 'DUMP_PGTABLE', params: [{ one: f('ioasid') }], valid: (c) => [c.a], call: (c, a) => c.fd.dumpPgtable(a[0] as never) },
    {
      name: 'LOOKUP',
      params: [{ one: f('ioasid') }, { one: f('u64') }, { obj: { pasid: f('pasid', true) }, optional: true }],
      valid: (c) => [c.a, c.iova, {}],
      call: (c, a) => c.fd.lookup(a[0] as never, a[1] as never, a[2] as never),
    },
    {
      name: 'ioctl',
      params: [{ one: f('int') }, { one: f('int', true) }],
      valid: () => [IOASID_COMMANDS.IOASID_GET_INFO, 1],
      call: (c, a) => c.fd.ioctl(a[0] as never, a[1]),
    },
    {
      name: 'BIND_IOASID_FD',
      params: [{ one: f('fd') }, { obj: { label: f('label', true) }, optional: true }],
      valid: (c) => [c.fd, { label: 'free@junk' }],
      call: (c, a) => c.free.bindIoasidFd(a[0] as never, a[1] as never),
    },
    {
      name: 'ATTACH_IOASID',
      params: [{ one: f('ioasid') }, { obj: { userPasid: f('pasid', true) }, optional: true }],
      valid: (c) => [c.a, {}],
      call: (c, a) => c.dev1.attachIoasid(a[0] as never, a[1] as never),
    },
    {
      name: 'DETACH_IOASID',
      params: [{ one: f('ioasid') }, { obj: { userPasid: f('pasid', true) }, optional: true }],
      valid: (c) => [c.a, {}],
      call: (c, a) => c.dev0.detachIoasid(a[0] as never, a[1] as never),
    },
    {
      name: 'dmaWrite',
      params: [{ one: f('u64') }, { one: f('bytes') }, { obj: { pasid: f('pasid', true), privileged: f('bool', true) }, optional: true }],
      valid: (c) => [c.iova + 64n, new Uint8Array(4), {}],
      call: (c, a) => c.dev0.dmaWrite(a[0] as never, a[1] as never, a[2] as never),
      dma: true,
    },
    {
      name: 'dmaRead',
      params: [{ one: f('u64') }, { one: f('length') }, { obj: { pasid: f('pasid', true), privileged: f('bool', true) }, optional: true }],
      valid: (c) => [c.iova, 8, {}],
      call: (c, a) => c.dev0.dmaRead(a[0] as never, a[1] as never, a[2] as never),
      dma: true,
    },
    {
      name: 'KVM_MAP_PASID',
      params: [{ obj: { guestPasid: f('pasid'), fd: f('fd'), ioasid: f('ioasid') } }],
      valid: (c) => [{ guestPasid: 5, fd: c.fd, ioasid: c.a }],
      call: (c, a) => c.m.kvm.mapPasid(a[0] as never),
    },
    { name: 'KVM_UNMAP_PASID', params: [{ one: f('pasid') }], valid: () => [5], call: (c, a) => c.m.kvm.unmapPasid(a[0] as never) },
    {
      name: 'kvm.enqcmd',
      params: [{ one: f('device') }, { one: f('pasid') }, { obj: { iova: f('u64'), data: f('bytes') } }],
      valid: (c) => [c.dev0, 5, { iova: c.iova, data: new Uint8Array(4) }],
      call: (c, a) => c.m.kvm.enqcmd(a[0] as never, a[1] as never, a[2] as never),
      dma: true,
    },
    { name: 'vmm.mmap', params: [{ one: f('u64') }, { obj: { hugePages: f('huge', true) }, optional: true }], valid: () => [0x1000n, {}], call: (c, a) => c.m.vmm.mmap(a[0] as never, a[1] as never) },
    { name: 'vmm.munmap', params: [{ one: f('u64') }, { one: f('u64') }], valid: (c) => [c.va + 4n * c.g, c.g], call: (c, a) => c.m.vmm.munmap(a[0] as never, a[1] as never) },
    { name: 'vmm.read', params: [{ one: f('u64') }, { one: f('length') }], valid: (c) => [c.va, 8], call: (c, a) => c.m.vmm.read(a[0] as never, a[1] as never) },
    { name: 'vmm.write', params: [{ one: f('u64') }, { one: f('bytes') }], valid: (c) => [c.va, new Uint8Array(4)], call: (c, a) => c.m.vmm.write(a[0] as never, a[1] as never) },
    { name: 'machine.device', params: [{ one: f('name') }], valid: () => ['dev0'], call: (c, a) => c.m.device(a[0] as never) },
  ];
  // Dirty tracking, where the core has it.
  const dirty = fd as unknown as Record<string, unknown>;
  if (typeof dirty.setDirtyTracking === 'function') {
    specs.push({
      name: 'SET_DIRTY_TRACKING',
      params: [{ obj: { ioasid: f('ioasid'), enable: f('bool') } }],
      valid: (c) => [{ ioasid: c.a, enable: false }],
      call: (c, a) => (c.fd as unknown as { setDirtyTracking(x: unknown): unknown }).setDirtyTracking(a[0]),
    });
  }
  if (typeof dirty.getDirtyBitmap === 'function') {
    specs.push({
      name: 'GET_DIRTY_BITMAP',
      params: [{ obj: { ioasid: f('ioasid'), iova: f('u64'), size: f('u64'), pageSize: f('u64'), noClear: f('bool', true) } }],
      valid: (c) => [{ ioasid: c.a, iova: c.iova, size: c.g, pageSize: c.g }],
      call: (c, a) => (c.fd as unknown as { getDirtyBitmap(x: unknown): unknown }).getDirtyBitmap(a[0]),
    });
  }
  return specs;
}
