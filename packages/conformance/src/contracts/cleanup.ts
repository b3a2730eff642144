import type { Device, IoasidFd, Machine } from '@ioasid/core';
import type { CaseDef, Caps } from '../types.js';
import {
  MiB,
  PAGE,
  check,
  expectErrno,
  expectOk,
  firstFormat,
  gpaSpace,
  granule,
  guestData,
  guestTable,
  newMachine,
  newPasidTableMachine,
  openFd,
  boundPasid,
  spot,
  supportsUserPgtable,
  vmmBuffer,
} from '../kit.js';

/** Populates every page of a VMM range, so that what the fd does later changes only kernel frames. */
function populate(m: Machine, vaddr: bigint, size: bigint): void {
  const r = m.vmm.region(vaddr, size);
  r.touch(Number((vaddr - r.vaddr) / PAGE), Number(size / PAGE));
}

function counters(m: Machine, fd?: IoasidFd) {
  return { frames: m.hostMemory.framesInUse, locked: fd?.accounting.lockedPages ?? 0, pasids: m.pasids.inUse };
}

/** Everything a session can hold: maps, registration, children, bound tables, PASIDs, an mdev. */
function busySession(m: Machine, caps: Caps, fd: IoasidFd, devs: Record<string, Device>, buf: bigint, g: bigint): void {
  const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  expectOk(() => devs.dev0.attachIoasid(a), 'ATTACH dev0');
  const info = fd.getInfo(a);
  const iova = spot(info.permittedRanges, 64n * g, g, 'MAP_DMA', 8n * MiB);
  expectOk(() => fd.mapDma({ ioasid: a, iova, vaddr: buf, size: 8n * g }), 'MAP_DMA (charged)');
  expectOk(() => devs.dev0.dmaWrite(iova, new Uint8Array([1, 2, 3])), 'DMA');
  const child = expectOk(() => fd.createNesting({ parent: a, protocol: 'map' }), 'CREATE_NESTING(map)');
  expectOk(() => devs.dev0.attachIoasid(child), 'ATTACH dev0 → child');
  expectOk(() => fd.mapDma({ ioasid: child, iova: 0x100000n, vaddr: iova, size: 4n * g }), 'child MAP_DMA');
  expectOk(() => devs.dev0.dmaRead(0x100000n, 4), 'DMA through the software child');
  if (devs.md0) {
    expectOk(() => devs.md0.attachIoasid(a), 'ATTACH md0 (host PASID)');
    expectOk(() => devs.md0.dmaRead(iova, 4), 'mdev DMA');
  }
  if (supportsUserPgtable(caps.dev) || caps.dev.protocols.includes('user-pasid-table')) {
    const { parent, info: pinfo } = gpaSpace(m, fd, [devs.dev1, devs.pri0]);
    const format = firstFormat(pinfo);
    const gt = guestTable(m, format);
    const d = guestData(m, gt.page, 110);
    gt.pt.map(gt.page, d.gpa, gt.page);
    if (supportsUserPgtable(caps.dev)) {
      const c = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
      const vp = boundPasid(caps, caps.dev, 4);
      expectOk(() => devs.dev1.attachIoasid(c, { userPasid: vp }), 'ATTACH dev1 → user-pgtable child');
      expectOk(() => fd.bindPgtable({ ioasid: c, addr: gt.pt.root, format }), 'BIND_PGTABLE');
      expectOk(() => devs.dev1.dmaRead(gt.page, 4, { pasid: vp }), 'DMA through the bound table');
    }
    if (caps.dev.protocols.includes('user-pasid-table') && m.driver.guest?.buildPasidTable) {
      const p = expectOk(() => fd.createNesting({ parent, protocol: 'user-pasid-table' }), 'CREATE_NESTING(user-pasid-table)');
      expectOk(() => devs.pri0.attachIoasid(p), 'ATTACH pri0 → PASID-table child');
      const ptf = pinfo.pasidTableFormats[0];
      const t = m.driver.guest.buildPasidTable(m.guest, ptf, [{ pasid: 1, root: gt.pt.root, pgtable: format }]);
      expectOk(() => fd.bindPasidTable({ ioasid: p, addr: t, format: ptf }), 'BIND_PASID_TABLE');
      expectOk(() => devs.pri0.dmaRead(gt.page, 4, { pasid: 1 }), 'DMA through the PASID table');
    }
  }
  // Pre-registration last (once registered, every map must be inside a registration).
  const locked = fd.accounting.lockedPages;
  expectOk(() => fd.registerMemory({ vaddr: buf + 8n * g, size: 8n * g }), 'REGISTER_MEMORY');
  expectOk(() => fd.mapDma({ ioasid: a, iova: iova + 16n * g, vaddr: buf + 8n * g, size: 8n * g }), 'MAP_DMA (registered)');
  check(fd.accounting.lockedPages === locked + Number((8n * g) / PAGE), () => `REGISTER_MEMORY charges once (lockedPages ${locked} → ${fd.accounting.lockedPages})`);
}

/**
 * FREE and close release everything: host frames back to what they were before the fd, no
 * locked pages, no host PASIDs, devices unbound.
 */
export const cleanupCase: CaseDef = {
  id: 'contract-cleanup',
  group: 'contract',
  title: 'FREE and close release everything: framesInUse back to before the fd, lockedPages 0, host PASIDs 0',
  run(env, caps) {
    const m = caps.dev.protocols.includes('user-pasid-table') ? newPasidTableMachine(env) : newMachine(env);
    // User memory the session will pin, populated first: what remains to count is the kernel's.
    const probeFd = openFd(m, 'dev0');
    const pa = expectOk(() => probeFd.fd.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => probeFd.devs[0].attachIoasid(pa), 'ATTACH');
    const g = granule(probeFd.fd.getInfo(pa), 'GET_INFO');
    expectOk(() => probeFd.fd.close(), 'close');
    const buf = vmmBuffer(m, 16n * g, g);
    populate(m, buf, 16n * g);
    populate(m, m.guest.vaddr, m.guest.size);

    // FREE of an IOASID that mapped without any device.
    const base = counters(m);
    const fd1 = m.openIoasidFd();
    const a = expectOk(() => fd1.alloc({ protocol: 'map' }), 'ALLOC');
    const iova = spot(fd1.ioasidObject(a).domain.info().permittedRanges, 4n * g, g, 'MAP_DMA without devices', 8n * MiB);
    expectOk(() => fd1.mapDma({ ioasid: a, iova, vaddr: buf, size: 4n * g }), 'MAP_DMA without devices');
    expectOk(() => fd1.unmapDma({ ioasid: a, all: true }), 'UNMAP_DMA(all)');
    expectOk(() => fd1.free(a), 'FREE');
    const afterFree = counters(m, fd1);
    check(afterFree.frames === base.frames && afterFree.locked === 0,
      () => `ALLOC + MAP + UNMAP + FREE must leave frames as before (framesInUse ${base.frames} → ${afterFree.frames}, lockedPages ${afterFree.locked})`);

    // FREE after attach/detach, then unbind.
    const { fd: fd2, devs } = openFd(m, 'dev0');
    const b = expectOk(() => fd2.alloc({ protocol: 'map' }), 'ALLOC');
    expectOk(() => devs[0].attachIoasid(b), 'ATTACH');
    expectOk(() => fd2.mapDma({ ioasid: b, iova, vaddr: buf, size: 4n * g }), 'MAP_DMA');
    expectOk(() => devs[0].dmaRead(iova, 4), 'DMA');
    expectOk(() => devs[0].detachIoasid(b), 'DETACH');
    expectOk(() => fd2.free(b), 'FREE with the map still in place');
    check(fd2.accounting.lockedPages === 0, () => `FREE releases the pins of its maps (lockedPages ${fd2.accounting.lockedPages})`);
    expectOk(() => devs[0].unbindIoasidFd(), 'unbind');
    const afterUnbind = counters(m);
    check(afterUnbind.frames === base.frames, () => `ATTACH/DETACH/FREE/unbind must leave frames as before (framesInUse ${base.frames} → ${afterUnbind.frames})`);

    // close of a busy fd.
    const names = ['dev0', 'dev1', 'pri0', ...(caps.mdevAttach === true ? ['md0'] : [])];
    const s = openFd(m, ...names);
    const byName = Object.fromEntries(s.devs.map((d) => [d.name, d]));
    busySession(m, caps, s.fd, byName, buf, g);
    check(counters(m, s.fd).frames > base.frames, 'the session allocated kernel frames');
    expectOk(() => s.fd.close(), 'close');
    const after = counters(m, s.fd);
    check(after.frames === base.frames, () => `close must free every kernel frame: framesInUse ${base.frames} before the fd, ${after.frames} after close`);
    check(after.locked === 0, () => `close must unpin everything: lockedPages ${after.locked}`);
    check(after.pasids === 0, () => `close must free every host PASID: ${after.pasids} still in use`);
    check(s.devs.every((d) => d.fd === undefined), 'close unbinds every device');
    expectErrno(() => s.fd.alloc({ protocol: 'map' }), 'EBADF', 'ALLOC on a closed fd');
  },
};
