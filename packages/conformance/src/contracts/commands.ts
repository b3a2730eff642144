import { rangeHolding } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import {
  MiB,
  check,
  closeFd,
  expectDmaFault,
  expectErrno,
  expectOk,
  granule,
  newMachine,
  openFd,
  pickPasid,
  sameBytes,
  spot,
  vmmBuffer,
} from '../kit.js';

export const allocFreeCase: CaseDef = {
  id: 'contract-alloc-free',
  group: 'contract',
  title: 'ALLOC / CREATE_NESTING / FREE rejections: protocol, one nesting level, attach order, EBUSY, ENOENT',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0', 'dev1');
    const [d0, d1] = devs;
    expectErrno(() => fd.alloc({ protocol: 'bogus' as never }), 'EINVAL', 'ALLOC with an unknown protocol');
    expectErrno(() => fd.alloc(undefined as never), 'EINVAL', 'ALLOC without arguments');
    expectErrno(() => fd.alloc({ protocol: 'user-pgtable' }), 'EINVAL', 'ALLOC(user-pgtable): a bound table needs a parent (CREATE_NESTING)');
    expectErrno(() => fd.alloc({ protocol: 'user-pasid-table' }), 'EINVAL', 'ALLOC(user-pasid-table): needs a parent');

    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    const b = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    check(Number.isInteger(a) && Number.isInteger(b) && a !== b, 'ALLOC returns distinct integer IOASIDs');
    expectOk(() => d0.attachIoasid(a), 'ATTACH dev0 → a');
    expectErrno(() => fd.free(a), 'EBUSY', 'FREE of an IOASID with a device attached');
    const child = expectOk(() => fd.createNesting({ parent: a, protocol: 'map' }), 'CREATE_NESTING(map)');
    expectErrno(() => fd.createNesting({ parent: child, protocol: 'map' }), 'EINVAL', 'CREATE_NESTING under a nested child (one level)');
    expectErrno(() => d1.attachIoasid(child), 'EINVAL', 'ATTACH to a child before the parent');
    expectErrno(() => d0.attachIoasid(b), 'EBUSY', 'ATTACH of a RID already routed to another IOASID');
    expectOk(() => d0.attachIoasid(child), 'ATTACH dev0 → child');
    expectErrno(() => d0.detachIoasid(a), 'EBUSY', 'DETACH from the parent while attached to its child');
    expectOk(() => d0.detachIoasid(child), 'DETACH child');
    expectOk(() => d0.detachIoasid(a), 'DETACH parent');
    expectErrno(() => fd.free(a), 'EBUSY', 'FREE of an IOASID that still has children');
    expectOk(() => fd.free(child), 'FREE child');
    expectOk(() => fd.free(a), 'FREE parent');
    expectErrno(() => fd.free(a), 'ENOENT', 'FREE twice');
    expectErrno(() => d0.attachIoasid(a), 'ENOENT', 'ATTACH to a freed IOASID');
    expectOk(() => d0.attachIoasid(b), 'ATTACH dev0 → b after the first was freed');
    closeFd(fd);
  },
};

export const mapDmaCase: CaseDef = {
  id: 'contract-map-dma',
  group: 'contract',
  title: 'MAP_DMA / UNMAP_DMA rules (VFIO type1v2): alignment, overflow, EFAULT, EEXIST, no cutting, bytes returned, memlock',
  run(env) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => dev.attachIoasid(a), 'ATTACH');
    const info = fd.getInfo(a);
    const g = granule(info, 'GET_INFO');
    const va = vmmBuffer(m, 16n * g, g);
    const regionSize = m.vmm.region(va, g).size;
    const room = 32n * g > regionSize + 2n * g ? 32n * g : regionSize + 2n * g;
    const iova = spot(info.permittedRanges, room, g, 'MAP_DMA', 4n * MiB);
    const map = (o: { iova: bigint; vaddr?: bigint; size: bigint; read?: boolean; write?: boolean }) =>
      fd.mapDma({ ioasid: a, vaddr: va, ...o });

    expectErrno(() => map({ iova: iova + 1n, size: g }), 'EINVAL', 'MAP_DMA with an unaligned IOVA');
    expectErrno(() => map({ iova, vaddr: va + 1n, size: g }), 'EINVAL', 'MAP_DMA with an unaligned vaddr');
    expectErrno(() => map({ iova, size: g + 1n }), 'EINVAL', 'MAP_DMA with an unaligned size');
    expectErrno(() => map({ iova, size: 0n }), 'EINVAL', 'MAP_DMA of size 0');
    expectErrno(() => map({ iova, size: g, read: false, write: false }), 'EINVAL', 'MAP_DMA with neither read nor write');
    expectErrno(() => map({ iova: -g, size: g }), 'EINVAL', 'MAP_DMA with a negative IOVA');
    expectErrno(() => map({ iova: 1n << 64n, size: g }), 'EOVERFLOW', 'MAP_DMA with an IOVA beyond 64 bits');
    expectErrno(() => map({ iova: (1n << 64n) - g, size: 2n * g }), 'EOVERFLOW', 'MAP_DMA whose end wraps past 2^64');
    expectErrno(() => map({ iova, vaddr: 0n, size: g }), 'EFAULT', 'MAP_DMA of a vaddr the VMM has not mapped');
    expectErrno(() => map({ iova, size: regionSize + g }), 'EFAULT', 'MAP_DMA running past the end of the VMM mapping');

    expectOk(() => map({ iova, size: 4n * g }), 'MAP_DMA [0, 4)');
    expectErrno(() => map({ iova: iova + 2n * g, vaddr: va + 4n * g, size: 4n * g }), 'EEXIST', 'MAP_DMA overlapping the end of a map');
    expectErrno(() => map({ iova: iova - g, vaddr: va + 4n * g, size: 2n * g }), rangeHolding(info.permittedRanges, iova - g, 2n * g) ? 'EEXIST' : 'EINVAL', 'MAP_DMA overlapping the start of a map');
    expectErrno(() => map({ iova: iova + g, vaddr: va + 4n * g, size: g }), 'EEXIST', 'MAP_DMA inside a map');
    expectOk(() => map({ iova: iova + 4n * g, vaddr: va + 4n * g, size: 2n * g }), 'MAP_DMA [4, 6) adjacent');
    expectOk(() => map({ iova: iova + 8n * g, vaddr: va + 8n * g, size: g, write: false }), 'MAP_DMA [8, 9) read-only');

    expectErrno(() => fd.unmapDma({ ioasid: a, iova: iova + g, size: 4n * g }), 'EINVAL', 'UNMAP_DMA cutting two maps');
    expectErrno(() => fd.unmapDma({ ioasid: a, iova, size: g }), 'EINVAL', 'UNMAP_DMA cutting the head of a map');
    expectErrno(() => fd.unmapDma({ ioasid: a, iova: iova + 1n, size: g }), 'EINVAL', 'UNMAP_DMA with an unaligned IOVA');
    expectErrno(() => fd.unmapDma({ ioasid: a, iova, size: 0n }), 'EINVAL', 'UNMAP_DMA of size 0');
    expectErrno(() => fd.unmapDma({ ioasid: a, all: true, iova, size: g } as never), 'EINVAL', 'UNMAP_DMA(all) with an IOVA');
    sameBytes(expectOk(() => dev.dmaRead(iova + 3n * g, 4), 'DMA after refused unmaps'), m.vmm.read(va + 3n * g, 4), 'a refused UNMAP_DMA changed nothing');

    check(fd.unmapDma({ ioasid: a, iova: iova + 10n * g, size: 4n * g }) === 0n, 'UNMAP_DMA of an empty range returns 0');
    const n = fd.unmapDma({ ioasid: a, iova, size: 7n * g });
    check(n === 6n * g, () => `UNMAP_DMA over two whole maps returns their bytes: ${n} != ${6n * g}`);
    expectDmaFault(dev, () => dev.dmaRead(iova + 5n * g, 1), 'DMA after two maps were removed by one UNMAP_DMA');
    sameBytes(expectOk(() => dev.dmaRead(iova + 8n * g, 4), 'DMA to the remaining map'), m.vmm.read(va + 8n * g, 4), 'the map outside the range stays');
    check(fd.unmapDma({ ioasid: a, all: true }) === g, 'UNMAP_DMA(all) returns the remaining bytes');
    check(fd.accounting.lockedPages === 0, () => `nothing stays locked after unmap-all (lockedPages ${fd.accounting.lockedPages})`);

    // Locked-memory accounting: charge per map, refuse above the limit, pinned memory stays.
    expectOk(() => map({ iova, size: 2n * g }), 'MAP_DMA');
    const pages = Number((2n * g) / 4096n);
    check(fd.accounting.lockedPages === pages, () => `a map charges its pages: lockedPages ${fd.accounting.lockedPages}, expected ${pages}`);
    expectErrno(() => m.vmm.munmap(va, m.vmm.region(va, g).size), 'EBUSY', 'munmap of memory pinned for DMA');
    closeFd(fd);

    const small = newMachine(env, { memlockLimit: 3n * g });
    const s = openFd(small, 'dev0');
    const sa = expectOk(() => s.fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => s.devs[0].attachIoasid(sa), 'ATTACH');
    const sva = vmmBuffer(small, 4n * g, g);
    expectOk(() => s.fd.mapDma({ ioasid: sa, iova, vaddr: sva, size: 2n * g }), 'MAP_DMA under the memlock limit');
    const locked = s.fd.accounting.lockedPages;
    expectErrno(() => s.fd.mapDma({ ioasid: sa, iova: iova + 4n * g, vaddr: sva + 2n * g, size: 2n * g }), 'ENOMEM', 'MAP_DMA above the memlock limit');
    check(s.fd.accounting.lockedPages === locked, 'a refused map charges nothing');
    expectDmaFault(s.devs[0], () => s.devs[0].dmaRead(iova + 4n * g, 1), 'DMA to a map that was refused');
    closeFd(s.fd);
  },
};

export const devicesCase: CaseDef = {
  id: 'contract-devices',
  group: 'contract',
  title: 'device commands: BIND_IOASID_FD once, labels, ATTACH/DETACH rules, vPASID width (ERANGE), unbind',
  run(env, caps) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'dev0');
    const dev = devs[0];
    const dev1 = m.device('dev1');
    const fd2 = m.openIoasidFd();
    expectErrno(() => dev.bindIoasidFd(fd, { label: 'again' }), 'EBUSY', 'BIND_IOASID_FD twice to the same fd');
    expectErrno(() => dev.bindIoasidFd(fd2, { label: 'other' }), 'EBUSY', 'BIND_IOASID_FD while bound to another fd');
    expectErrno(() => dev1.bindIoasidFd(fd, { label: 'dev0@kit' }), 'EEXIST', 'BIND_IOASID_FD with a label already used on the fd');
    expectErrno(() => dev1.bindIoasidFd(fd, { label: '' }), 'EINVAL', 'BIND_IOASID_FD with an empty label');
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectErrno(() => dev1.attachIoasid(a), 'EINVAL', 'ATTACH of a device not bound to the fd');
    expectOk(() => dev.attachIoasid(a), 'ATTACH');
    expectErrno(() => dev.attachIoasid(a), 'EBUSY', 'ATTACH twice');
    expectErrno(() => dev.detachIoasid(a, { userPasid: 3 }), 'EINVAL', 'DETACH of a vPASID never attached');
    expectErrno(() => dev.unbindIoasidFd(), 'EBUSY', 'unbind while attached');
    expectErrno(() => dev.attachIoasid(a, { userPasid: -1 }), 'EINVAL', 'ATTACH with a negative vPASID');
    expectErrno(() => dev.attachIoasid(a, { userPasid: 1 << 20 }), 'EINVAL', 'ATTACH with a vPASID beyond 20 bits');
    if (caps.dev.pasidBits < 20) {
      expectErrno(() => dev.attachIoasid(a, { userPasid: 2 ** caps.dev.pasidBits }), 'ERANGE', `ATTACH with a vPASID beyond the device's ${caps.dev.pasidBits}-bit width`);
    }
    if (caps.dev.pasidBits > 0) {
      const b = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
      const vp = pickPasid(caps.dev.pasidBits, 9);
      if (caps.pasidMapAttach === true) {
        expectOk(() => dev.attachIoasid(b, { userPasid: vp }), `ATTACH with vPASID ${vp} (PASID-granular)`);
        expectErrno(() => dev.attachIoasid(b, { userPasid: vp }), 'EBUSY', 'the same vPASID twice');
        expectOk(() => dev.detachIoasid(b, { userPasid: vp }), 'DETACH the vPASID');
      } else {
        expectErrno(() => dev.attachIoasid(b, { userPasid: vp }), 'EINVAL', `ATTACH with vPASID ${vp} to a map IOASID the vendor cannot route per PASID`);
      }
    }
    const mdev = m.device('md0');
    expectErrno(() => mdev.dmaRead(0n, 4), 'EINVAL', 'DMA from an mdev with nothing attached (it has no PASID to put on the wire)');
    expectOk(() => dev.detachIoasid(a), 'DETACH');
    expectErrno(() => dev.detachIoasid(a), 'EINVAL', 'DETACH twice');
    expectDmaFault(dev, () => dev.dmaRead(0n, 4), 'DMA from a detached device');
    expectOk(() => dev.unbindIoasidFd(), 'unbind');
    expectErrno(() => dev.attachIoasid(a), 'EINVAL', 'ATTACH after unbind');
    expectOk(() => dev.bindIoasidFd(fd2, { label: 'dev0@fd2' }), 'BIND_IOASID_FD to another fd after unbind');
    closeFd(fd);
    closeFd(fd2);
  },
};
