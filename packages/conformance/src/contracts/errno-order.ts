import { IOASID_GET_INFO, IOASID_MAP_DMA, IOASID_UNBIND_PASID_TABLE, IOASID_UNBIND_PGTABLE, type IoasidFd } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import { closeFd, expectErrno, expectOk, newMachine, openFd, supportsUserPgtable } from '../kit.js';

/** Every command that takes an IOASID, with arguments that would also be wrong. */
function commandsOn(fd: IoasidFd, ioasid: number): [string, () => unknown][] {
  const bad = { addr: 1n, format: null as never };
  return [
    ['GET_INFO', () => fd.getInfo(ioasid)],
    ['MAP_DMA', () => fd.mapDma({ ioasid, iova: 1n, vaddr: 3n, size: 0n, read: false, write: false })],
    ['UNMAP_DMA', () => fd.unmapDma({ ioasid, iova: 1n, size: 0n })],
    ['UNMAP_DMA(all)', () => fd.unmapDma({ ioasid, all: true })],
    ['FREE', () => fd.free(ioasid)],
    ['CREATE_NESTING', () => fd.createNesting({ parent: ioasid, protocol: 'bogus' as never })],
    ['BIND_PGTABLE', () => fd.bindPgtable({ ioasid, ...bad })],
    ['BIND_PASID_TABLE', () => fd.bindPasidTable({ ioasid, ...bad })],
    ['INVALIDATE_CACHE', () => fd.invalidateCache({ ioasid, iova: 0n, size: 0n })],
    ['READ_FAULTS', () => fd.readFaults(ioasid)],
    ['PAGE_RESPONSE', () => fd.pageResponse({ ioasid, id: -1, code: 'bogus' as never })],
    ['DUMP_PGTABLE', () => fd.dumpPgtable(ioasid)],
    ['LOOKUP', () => fd.lookup(ioasid, -1n)],
    ['ioctl(MAP_DMA)', () => fd.ioctl(IOASID_MAP_DMA, { ioasid, iova: 1n, vaddr: 3n, size: 0n })],
    ['ioctl(GET_INFO)', () => fd.ioctl(IOASID_GET_INFO, { ioasid })],
  ];
}

export const errnoOrderCase: CaseDef = {
  id: 'contract-errno-order',
  group: 'contract',
  title: 'order of checks (§9): unknown IOASID → ENOENT, then wrong protocol → EOPNOTSUPP, then the arguments',
  run(env, caps) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => dev.attachIoasid(a), 'ATTACH dev0');
    const unknown = a + 1000;
    for (const [name, fn] of commandsOn(fd, unknown)) expectErrno(fn, 'ENOENT', `${name} on an unknown IOASID with bad arguments`);
    expectErrno(() => dev.attachIoasid(unknown), 'ENOENT', 'ATTACH to an unknown IOASID');
    expectErrno(() => dev.detachIoasid(unknown), 'ENOENT', 'DETACH from an unknown IOASID');

    // A 'map' IOASID: binding commands are the other protocol, whatever their arguments.
    expectErrno(() => fd.bindPgtable({ ioasid: a, addr: 1n, format: null as never }), 'EOPNOTSUPP', 'BIND_PGTABLE with bad arguments on a map IOASID');
    expectErrno(() => fd.bindPasidTable({ ioasid: a, addr: -1n, format: 5 as never }), 'EOPNOTSUPP', 'BIND_PASID_TABLE with bad arguments on a map IOASID');
    // Only then the arguments.
    expectErrno(() => fd.mapDma({ ioasid: a, iova: 1n, vaddr: 0n, size: 4096n }), 'EINVAL', 'MAP_DMA with a misaligned IOVA');
    expectErrno(() => fd.createNesting({ parent: a, protocol: 'bogus' as never }), 'EINVAL', 'CREATE_NESTING with an unknown protocol');
    expectErrno(() => fd.pageResponse({ ioasid: a, id: 1, code: 'bogus' as never }), 'EINVAL', 'PAGE_RESPONSE with a bad code');
    expectErrno(() => fd.pageResponse({ ioasid: a, id: 12345, code: 'success' }), 'ENOENT', 'PAGE_RESPONSE to an unknown fault');
    expectErrno(() => fd.invalidateCache({ ioasid: a, iova: 0n, size: 0n }), 'EINVAL', 'INVALIDATE_CACHE of an empty range');
    expectErrno(() => fd.invalidateCache({ ioasid: a, all: true, pasid: -3 }), 'EINVAL', 'INVALIDATE_CACHE with a bad PASID');
    expectErrno(() => fd.ioctl(IOASID_UNBIND_PGTABLE, { ioasid: a }), 'EOPNOTSUPP', 'UNBIND_PGTABLE (withdrawn in v2)');
    expectErrno(() => fd.ioctl(IOASID_UNBIND_PASID_TABLE, { ioasid: a }), 'EOPNOTSUPP', 'UNBIND_PASID_TABLE (withdrawn in v2)');
    expectErrno(() => fd.ioctl(0x3b00 | 250, {}), 'EINVAL', 'an unknown ioctl number');

    if (supportsUserPgtable(caps.dev)) {
      // A user-pgtable IOASID: the map protocol is the other one.
      const c = expectOk(() => fd.createNesting({ parent: a, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
      expectErrno(() => fd.mapDma({ ioasid: c, iova: 1n, vaddr: 1n, size: 0n }), 'EOPNOTSUPP', 'MAP_DMA with bad arguments on a user-pgtable IOASID');
      expectErrno(() => fd.unmapDma({ ioasid: c, all: true }), 'EOPNOTSUPP', 'UNMAP_DMA on a user-pgtable IOASID');
      expectErrno(() => fd.bindPasidTable({ ioasid: c, addr: 1n, format: null as never }), 'EOPNOTSUPP', 'BIND_PASID_TABLE on a user-pgtable IOASID');
      expectErrno(() => fd.createNesting({ parent: c, protocol: 'bogus' as never }), 'EOPNOTSUPP', 'CREATE_NESTING under a user-pgtable IOASID');
      expectErrno(() => fd.bindPgtable({ ioasid: c, addr: 1n, format: { kind: 'x' } }), 'EINVAL', 'BIND_PGTABLE with a misaligned address');
      expectOk(() => fd.free(c), 'FREE');
    }
    if (caps.dev.protocols.includes('user-pasid-table')) {
      const p = expectOk(() => fd.createNesting({ parent: a, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
      expectErrno(() => fd.mapDma({ ioasid: p, iova: 1n, vaddr: 1n, size: 0n }), 'EOPNOTSUPP', 'MAP_DMA on a user-pasid-table IOASID');
      expectErrno(() => fd.bindPgtable({ ioasid: p, addr: 1n, format: null as never }), 'EOPNOTSUPP', 'BIND_PGTABLE on a user-pasid-table IOASID');
      expectOk(() => fd.free(p), 'FREE');
    }

    closeFd(fd);
    expectErrno(() => fd.alloc({ protocol: 'map' }), 'EBADF', 'ALLOC on a closed fd');
    expectErrno(() => fd.getInfo(a), 'EBADF', 'GET_INFO on a closed fd');
  },
};
