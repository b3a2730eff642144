import { dirtyBits, type Device, type DmaOptions, type GuestPageTable, type IoasidFd, type Machine, type PgtableFormat } from '@ioasid/core';
import { hexBytes, type Journal, type JournalStep } from './journal.js';

/**
 * Makes `m` report its calls to `j`: each method the kit uses on the fd, the devices, VMM and
 * guest memory is replaced on that object by one that records a scenario step with the call's
 * outcome (result name, errno, fault name, bytes read) and then returns or throws as before.
 */
export function recordMachine(j: Journal, m: Machine, options: Record<string, unknown>): void {
  j.machine = options;
  j.guestVaddr = m.guest.vaddr;
  j.guestSize = m.guest.size;
  const openFd = m.openIoasidFd.bind(m);
  patch(m, 'openIoasidFd', () => {
    const fd = openFd();
    // The scenario runner opens one fd before the first step; a second one has no step.
    if (++j.fds > 1) j.refuse('the run opens a second IOASID fd (a scenario has one)');
    else recordFd(j, fd);
    return fd;
  });
  for (const d of m.deviceList) recordDevice(j, d);
  const inject = m.injectAllocFailure.bind(m);
  patch(m, 'injectAllocFailure', (n: number) => {
    if (n > 0) j.refuse('the run injects allocation failures (a scenario has no step for that)');
    inject(n);
  });
  const vmm = m.vmm;
  const mmap = vmm.mmap.bind(vmm);
  patch(vmm, 'mmap', (size: bigint, o: { hugePages?: '2M' | '1G' } = {}) =>
    rec(j, () => ({ op: 'mmap', args: { size, ...(o.hugePages ? { hugePages: o.hugePages } : {}) } }), () => mmap(size, o), (s, va) => (s.as = j.nameBuffer(va, size))),
  );
  const vwrite = vmm.write.bind(vmm);
  patch(vmm, 'write', (vaddr: bigint, bytes: Uint8Array) => rec(j, () => ({ op: 'vmm-write', args: { vaddr: j.vaddr(vaddr), bytes: byteArg(bytes) } }), () => vwrite(vaddr, bytes)));
  const vread = vmm.read.bind(vmm);
  patch(vmm, 'read', (vaddr: bigint, length: number) =>
    rec(j, () => ({ op: 'vmm-read', args: { vaddr: j.vaddr(vaddr), length } }), () => vread(vaddr, length), (s, got) => (s.args!.expect = hexBytes(got))),
  );
  const g = m.guest;
  const gwrite = g.write.bind(g);
  patch(g, 'write', (gpa: bigint, bytes: Uint8Array) => rec(j, () => ({ op: 'guest-write', args: { gpa, bytes: byteArg(bytes) } }), () => gwrite(gpa, bytes)));
  const gread = g.read.bind(g);
  patch(g, 'read', (gpa: bigint, length: number) =>
    rec(j, () => ({ op: 'guest-read', args: { gpa, length } }), () => gread(gpa, length), (s, got) => (s.args!.expect = hexBytes(got))),
  );
  const galloc = g.allocFrames.bind(g);
  patch(g, 'allocFrames', (count: number, align = 1) =>
    rec(j, () => ({ op: 'guest-alloc', args: { size: BigInt(count) * 4096n, ...(align > 1 ? { align: BigInt(align) * 4096n } : {}) } }), () => galloc(count, align)),
  );
  const create = g.createPageTable.bind(g);
  patch(g, 'createPageTable', (f: Parameters<typeof create>[0]) => {
    if (j.depth === 0) j.refuse('the run builds a guest page table outside the kit helper guestTable()');
    return create(f);
  });
}

/** A guest page table the kit builds from a GET_INFO format: the table and its maps and unmaps become steps. */
export function recordGuestTable(j: Journal, format: PgtableFormat, build: () => GuestPageTable): GuestPageTable {
  const name = `table${j.steps.filter((s) => s.op === 'guest-pgtable' && s.as).length + 1}`;
  const pt = rec(j, () => ({ op: 'guest-pgtable', args: { format }, as: name }), build);
  const map = pt.map.bind(pt);
  patch(pt, 'map', (gva: bigint, gpa: bigint, size: bigint, prot: { read?: boolean; write?: boolean } = { read: true, write: true }) => {
    const entry = { gva, gpa, size, ...(prot.read === false ? { read: false } : {}), ...(prot.write === false ? { write: false } : {}) };
    return rec(j, () => ({ op: 'guest-pgtable', args: { table: `$${name}`, map: [entry] } }), () => map(gva, gpa, size, prot));
  });
  const unmap = pt.unmap.bind(pt);
  patch(pt, 'unmap', (gva: bigint, size: bigint) => rec(j, () => ({ op: 'guest-pgtable', args: { table: `$${name}`, unmap: [{ gva, size }] } }), () => unmap(gva, size)));
  return pt;
}

function recordFd(j: Journal, fd: IoasidFd): void {
  const wrap = <A>(key: keyof IoasidFd, make: (a: A) => JournalStep, after?: (s: JournalStep, r: unknown) => void) => {
    const orig = (fd[key] as (...x: unknown[]) => unknown).bind(fd);
    patch(fd, key, (...a: unknown[]) => rec(j, () => make(a[0] as A), () => orig(...a), after));
  };
  type Args = Record<string, unknown>;
  const id = (v: unknown) => j.ioasid(v);
  const named = (s: JournalStep, r: unknown) => (s.as = j.nameIoasid(r as number));
  wrap<Args>('alloc', (a) => ({ op: 'alloc', args: allocArgs(a) }), named);
  wrap<Args>('createNesting', ({ parent, protocol, ...rest }) => ({ op: 'nest', args: { parent: id(parent), protocol, ...(Object.keys(rest).length ? { options: rest } : {}) } }), named);
  wrap<number>('free', (ioasid) => ({ op: 'free', args: { ioasid: id(ioasid) } }));
  wrap<Args>('mapDma', (a) => ({
    op: 'map',
    args: { ioasid: id(a.ioasid), iova: a.iova, vaddr: j.vaddr(a.vaddr), size: a.size, ...(a.read === false ? { read: false } : {}), ...(a.write === false ? { write: false } : {}) },
  }));
  wrap<Args>('unmapDma', (a) => ({ op: 'unmap', args: a.all === true ? { ioasid: id(a.ioasid), all: true } : { ioasid: id(a.ioasid), iova: a.iova, size: a.size } }));
  wrap<Args>('registerMemory', (a) => ({ op: 'register', args: { vaddr: j.vaddr(a.vaddr), size: a.size } }));
  wrap<Args>('unregisterMemory', (a) => ({ op: 'unregister', args: { vaddr: j.vaddr(a.vaddr), size: a.size } }));
  wrap<Args>('bindPgtable', (a) => ({ op: 'bind-pgtable', args: { ioasid: id(a.ioasid), addr: a.addr, format: a.format } }));
  wrap<Args>('bindPasidTable', (a) => ({ op: 'bind-pasid-table', args: { ioasid: id(a.ioasid), addr: a.addr, format: a.format } }));
  wrap<Args>('invalidateCache', (a) => ({ op: 'invalidate', args: { ...a, ioasid: id(a.ioasid) } }));
  wrap<Args>('setDirtyTracking', (a) => ({ op: 'set-dirty-tracking', args: { ioasid: id(a.ioasid), enable: a.enable } }));
  wrap<Args>('getDirtyBitmap', (a) => ({ op: 'get-dirty-bitmap', args: { ...a, ioasid: id(a.ioasid) } }), (s, r) => (s.args!.expect = dirtyBits(r as Uint8Array)));
  wrap<number>('readFaults', (ioasid) => ({ op: 'read-faults', args: { ioasid: id(ioasid) } }), (s, r) => (s.args!.count = (r as unknown[]).length));
  wrap<Args>('pageResponse', (a) => ({ op: 'page-response', args: { ...a, ioasid: id(a.ioasid) } }));
  wrap<string>('checkExtension', (extension) => ({ op: 'check-extension', args: { extension } }), (s, r) => (s.args!.expect = r));
  wrap<never>('close', () => ({ op: 'close', args: {} }));
}

function recordDevice(j: Journal, d: Device): void {
  const device = d.name;
  type Pasid = { userPasid?: number };
  const pasidOf = (o: Pasid) => (o.userPasid !== undefined ? { userPasid: o.userPasid } : {});
  const bind = d.bindIoasidFd.bind(d);
  patch(d, 'bindIoasidFd', (fd: IoasidFd, o: { label?: string } = {}) => rec(j, () => ({ op: 'bind', args: { device, ...(o.label !== undefined ? { label: o.label } : {}) } }), () => bind(fd, o)));
  const unbind = d.unbindIoasidFd.bind(d);
  patch(d, 'unbindIoasidFd', () => rec(j, () => ({ op: 'unbind', args: { device } }), unbind));
  const attach = d.attachIoasid.bind(d);
  patch(d, 'attachIoasid', (ioasid: number, o: Pasid = {}) => rec(j, () => ({ op: 'attach', args: { device, ioasid: j.ioasid(ioasid), ...pasidOf(o) } }), () => attach(ioasid, o)));
  const detach = d.detachIoasid.bind(d);
  patch(d, 'detachIoasid', (ioasid: number, o: Pasid = {}) => rec(j, () => ({ op: 'detach', args: { device, ioasid: j.ioasid(ioasid), ...pasidOf(o) } }), () => detach(ioasid, o)));
  const reset = d.reset.bind(d);
  patch(d, 'reset', () => rec(j, () => ({ op: 'reset', args: { device } }), reset));
  const read = d.dmaRead.bind(d);
  patch(d, 'dmaRead', (iova: bigint, length: number, o: DmaOptions = {}) =>
    rec(j, () => ({ op: 'dma-read', args: { device, iova, length, ...dmaOptions(j, o) } }), () => read(iova, length, o), (s, got) => (s.args!.expect = hexBytes(got))),
  );
  const write = d.dmaWrite.bind(d);
  patch(d, 'dmaWrite', (iova: bigint, bytes: Uint8Array, o: DmaOptions = {}) =>
    rec(j, () => ({ op: 'dma-write', args: { device, iova, bytes: byteArg(bytes), ...dmaOptions(j, o) } }), () => write(iova, bytes, o)),
  );
}

function dmaOptions(j: Journal, o: DmaOptions): Record<string, unknown> {
  const extra = Object.keys(o as object).find((k) => k !== 'pasid' && k !== 'privileged');
  if (extra !== undefined) j.refuse(`a DMA option '${extra}' has no scenario field`);
  return { ...(o.pasid !== undefined ? { pasid: o.pasid } : {}), ...(o.privileged === true ? { privileged: true } : {}) };
}

function allocArgs(a: Record<string, unknown>): Record<string, unknown> {
  const { protocol: _p, window, ...rest } = a;
  return { ...(window !== undefined ? { window } : {}), ...(Object.keys(rest).length ? { options: rest } : {}) };
}

/**
 * Runs the call as one step: `make` builds the step (not made for a call made inside another
 * recorded call, e.g. the frames a guest table allocates), a failure is written on it (errno, or
 * the DMA fault's name) and rethrown, `after` sees the result.
 */
function rec<T>(j: Journal, make: () => JournalStep, call: () => T, after?: (s: JournalStep, r: T) => void): T {
  if (j.depth > 0) return call();
  const step = j.add(make());
  j.depth++;
  try {
    const r = call();
    after?.(step, r);
    return r;
  } catch (e) {
    const err = e as { name?: string; errno?: unknown; record?: { name?: unknown } };
    if (err?.name === 'IoasidError' && typeof err.errno === 'string') step.errno = err.errno;
    else if (err?.name === 'DmaFault' && typeof err.record?.name === 'string') {
      step.args!.fault = err.record.name;
      delete step.args!.expect;
    }
    throw e;
  } finally {
    j.depth--;
  }
}

function byteArg(b: Uint8Array): unknown {
  if (b.length > 16 && b.every((x) => x === b[0])) return { fill: b[0], length: b.length };
  return hexBytes(b);
}

function patch(target: object, key: PropertyKey, fn: (...a: never[]) => unknown): void {
  Object.defineProperty(target, key, { value: fn, configurable: true, writable: true, enumerable: false });
}
