import type { CaseDef, Caps, KitEnv } from '../types.js';
import {
  check,
  closeFd,
  expectDmaFault,
  expectErrno,
  expectOk,
  firstFormat,
  gpaSpace,
  guestData,
  guestTable,
  newMachine,
  openFd,
  pattern,
  pickPasid,
  rejectsNesting,
  sameBytes,
  checkRefusal,
  supportsUserPgtable,
} from '../kit.js';
import { checkNestedReach, checkNoKernelLeaf } from '../reach.js';

function vsvaNeeds(caps: Caps): string | null {
  if (caps.dev.pasidBits === 0) return 'GET_INFO pasidBits is 0 (no PASID)';
  if (!supportsUserPgtable(caps.dev)) return `GET_INFO lists no 'user-pgtable' protocol (nesting: ${caps.dev.nesting})`;
  if (caps.pasidBoundAttach !== true) return `ATTACH of a vPASID to a 'user-pgtable' child is refused (vSVA goes through the guest's PASID table, 5.7): ${caps.pasidBoundAttach}`;
  return null;
}

/**
 * A vendor that keeps PASIDs for the guest's own table refuses a vPASID attach of a bound table
 * with EINVAL, whether or not a table is bound yet, and changes nothing.
 */
function rejectsBoundPasid(env: KitEnv, caps: Caps): void {
  checkRefusal(caps.pasidBoundAttach, "ATTACH of a vPASID to a 'user-pgtable' child");
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0');
  const [dev] = devs;
  const { parent, info } = gpaSpace(m, fd, [dev]);
  const format = firstFormat(info);
  const vp = pickPasid(caps.dev.pasidBits, 5);
  const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
  expectErrno(() => dev.attachIoasid(child, { userPasid: vp }), 'EINVAL', `ATTACH dev0 → unbound child with vPASID ${vp}`);
  const gt = guestTable(m, format);
  const a = guestData(m, gt.page, 53);
  gt.pt.map(2n * gt.page, a.gpa, gt.page, { read: true, write: true });
  expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), 'BIND_PGTABLE');
  expectErrno(() => dev.attachIoasid(child, { userPasid: vp }), 'EINVAL', `ATTACH dev0 → bound child with vPASID ${vp}`);
  expectDmaFault(dev, () => dev.dmaRead(2n * gt.page, 4, { pasid: vp }), `DMA with vPASID ${vp} after the refused ATTACH`);
  sameBytes(expectOk(() => dev.dmaRead(a.gpa, 64), 'DMA without PASID'), a.bytes, 'the RID still reaches the GPA space');
  closeFd(fd);
}

/** A vPASID attach on a device without PASID support fails: the width check (ERANGE). */
function rejectsPasid(env: KitEnv, name: string): void {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, name);
  const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  if (devs[0].kind === 'mdev') {
    // An mdev always tags its requests with a host PASID: without PASIDs it cannot attach at all.
    expectErrno(() => devs[0].attachIoasid(a), 'EINVAL', `ATTACH of mdev ${name} on a vendor with pasidBits = 0`);
  } else {
    expectErrno(() => devs[0].attachIoasid(a, { userPasid: 1 }), 'ERANGE', `ATTACH with userPasid 1 on a device whose GET_INFO pasidBits is 0`);
  }
  closeFd(fd);
}

/**
 * Proposal §5.5: vSVA. The guest binds its own page table to a vPASID of the device; the RID
 * keeps the GPA space. With an mdev, the kernel allocates the host PASID behind the vPASID.
 */
export const vsvaCase: CaseDef = {
  id: '5.5-vsva',
  group: 'scenario',
  title: '5.5 vSVA: ATTACH with userPasid to a user-pgtable child, PASID-tagged DMA, RID keeps the GPA space',
  needs: vsvaNeeds,
  rejects(env, caps) {
    if (caps.dev.pasidBits === 0) rejectsPasid(env, 'dev0');
    else if (!supportsUserPgtable(caps.dev)) rejectsNesting(env, 'user-pgtable');
    else rejectsBoundPasid(env, caps);
  },
  run(env, caps) {
    const m = newMachine(env);
    checkRefusal(caps.mdevAttach, 'ATTACH of an mdev to a map IOASID');
    // An mdev rides on a host PASID: only where a kernel-managed IOASID takes PASID attaches.
    const withMdev = caps.mdevAttach === true;
    const { fd, devs } = openFd(m, ...(withMdev ? ['dev0', 'md0'] : ['dev0']));
    const [dev, md] = devs;
    const { parent, info } = gpaSpace(m, fd, withMdev ? [dev, md] : [dev]);
    const format = firstFormat(info);
    const vp = pickPasid(caps.dev.pasidBits, 5);
    const vp2 = pickPasid(caps.dev.pasidBits, 6);

    const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
    expectOk(() => dev.attachIoasid(child, { userPasid: vp }), `ATTACH dev0 → child with vPASID ${vp}`);
    const gt = guestTable(m, format);
    const a = guestData(m, gt.page, 50);
    const gva = 2n * gt.page;
    gt.pt.map(gva, a.gpa, gt.page, { read: true, write: true });
    expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), 'BIND_PGTABLE');

    sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: vp }), 'PASID-tagged DMA read'), a.bytes, `vPASID ${vp}: gVA → GPA → host`);
    checkNestedReach(m, dev, gva, { pasid: vp }, `vPASID ${vp}`);
    checkNoKernelLeaf(fd, parent, `vPASID ${vp}, the GPA space`);
    const w = pattern(51, 16);
    expectOk(() => dev.dmaWrite(gva + 0x200n, w, { pasid: vp }), 'PASID-tagged DMA write');
    sameBytes(m.guest.read(a.gpa + 0x200n, 16), w, 'the PASID-tagged write lands in guest RAM');
    // Requests without PASID still use the GPA space.
    sameBytes(expectOk(() => dev.dmaRead(a.gpa, 64), 'DMA without PASID'), a.bytes, 'the RID still reaches the GPA space');
    if (vp2 !== vp) expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: vp2 }), `DMA with vPASID ${vp2}, which is not attached`);

    // A second vPASID bound to another guest table: isolated from the first.
    if (vp2 !== vp) {
      const child2 = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'second CREATE_NESTING');
      expectOk(() => dev.attachIoasid(child2, { userPasid: vp2 }), `ATTACH dev0 → child2 with vPASID ${vp2}`);
      const gt2 = guestTable(m, format);
      const b = guestData(m, gt.page, 52);
      gt2.pt.map(gva, b.gpa, gt.page, { read: true, write: true });
      expectOk(() => fd.bindPgtable({ ioasid: child2, addr: gt2.pt.root, format }), 'BIND_PGTABLE child2');
      sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: vp2 }), 'DMA with the second vPASID'), b.bytes, `vPASID ${vp2} uses its own table`);
      sameBytes(expectOk(() => dev.dmaRead(gva, 64, { pasid: vp }), 'DMA with the first vPASID again'), a.bytes, `vPASID ${vp} is unaffected`);
      expectOk(() => dev.detachIoasid(child2, { userPasid: vp2 }), 'DETACH child2');
      expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: vp2 }), `DMA with vPASID ${vp2} after DETACH`);
      expectOk(() => fd.free(child2), 'FREE child2');
    }

    // mdev: the vPASID is backed by a host PASID the kernel allocated.
    if (withMdev) {
      const inUse = m.pasids.inUse;
      expectOk(() => md.attachIoasid(child, { userPasid: vp }), `ATTACH md0 → child with vPASID ${vp}`);
      check(m.pasids.inUse === inUse + 1, () => `an mdev vPASID attach allocates one host PASID (in use ${inUse} → ${m.pasids.inUse})`);
      sameBytes(expectOk(() => md.dmaRead(gva, 64, { pasid: vp }), 'mdev DMA with its vPASID'), m.guest.read(a.gpa, 64), 'mdev vPASID reaches the guest table');
      sameBytes(expectOk(() => md.dmaRead(a.gpa, 64), 'mdev DMA without PASID'), m.guest.read(a.gpa, 64), 'mdev default space is the GPA space');
      expectOk(() => md.detachIoasid(child, { userPasid: vp }), 'DETACH md0 from child');
      check(m.pasids.inUse === inUse, () => `DETACH of the mdev frees its host PASID (in use ${m.pasids.inUse}, expected ${inUse})`);
    }

    expectOk(() => dev.detachIoasid(child, { userPasid: vp }), 'DETACH dev0 from child');
    expectDmaFault(dev, () => dev.dmaRead(gva, 4, { pasid: vp }), `DMA with vPASID ${vp} after DETACH`);
    expectOk(() => fd.free(child), 'FREE child');
    closeFd(fd);
    check(m.pasids.inUse === 0, () => `close returns every host PASID (in use: ${m.pasids.inUse})`);
  },
};

function enqcmdNeeds(caps: Caps): string | null {
  if (!caps.wq) return 'the vendor cannot describe an ENQCMD mdev (GET_INFO of wq0 failed)';
  if (caps.wq.pasidBits === 0) return 'GET_INFO pasidBits is 0 for the ENQCMD mdev (no PASID)';
  if (!supportsUserPgtable(caps.wq)) return `GET_INFO lists no 'user-pgtable' protocol (nesting: ${caps.wq.nesting})`;
  if (!caps.wq.enqcmd) return 'GET_INFO enqcmd is false for an ENQCMD-capable mdev';
  return null;
}

/**
 * Proposal §5.5 with ENQCMD: the guest submits work tagged with its guest PASID; the CPU
 * translates it to the host PASID KVM programmed (KVM_MAP_PASID); the device DMAs with it.
 */
export const enqcmdCase: CaseDef = {
  id: '5.5-enqcmd',
  group: 'scenario',
  title: '5.5 vSVA + ENQCMD: mdev vPASID, KVM_MAP_PASID, guest ENQCMD reaches the guest page table',
  needs: enqcmdNeeds,
  rejects(env, caps, reason) {
    if (!caps.wq || caps.wq.pasidBits === 0) {
      rejectsPasid(env, 'wq0');
      return;
    }
    if (!supportsUserPgtable(caps.wq)) {
      rejectsNesting(env, 'user-pgtable');
      return;
    }
    // The vendor claims PASIDs and nesting but not ENQCMD. ENQCMD is a CPU feature that KVM
    // gates; it must not be usable. KVM_MAP_PASID is the command that sets it up.
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'wq0');
    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    if (caps.mdevAttach !== true) {
      // The mdev cannot even get a host PASID route on this vendor: ENQCMD has nothing to reach.
      expectErrno(() => devs[0].attachIoasid(a), 'EINVAL', 'ATTACH of the ENQCMD mdev to a map IOASID');
      closeFd(fd);
      return `${reason}; the mdev cannot attach (${caps.mdevAttach})`;
    }
    expectOk(() => devs[0].attachIoasid(a), 'ATTACH wq0');
    let refused = false;
    try {
      m.kvm.mapPasid({ guestPasid: 3, fd, ioasid: a });
    } catch (e) {
      refused = true;
      expectErrno(() => {
        throw e;
      }, 'EOPNOTSUPP', 'KVM_MAP_PASID when no device of the fd claims ENQCMD');
    }
    closeFd(fd);
    if (!refused) return `${reason}; KVM_MAP_PASID was not refused (core does not gate it on GET_INFO yet)`;
    return undefined;
  },
  run(env, caps) {
    const m = newMachine(env);
    const { fd, devs } = openFd(m, 'wq0');
    const wq = devs[0];
    const { parent, info } = gpaSpace(m, fd, [wq]);
    check(m.pasids.inUse >= 1, 'an mdev attach allocates a host PASID');
    const format = firstFormat(info);
    const gp = pickPasid(caps.wq!.pasidBits, 3);
    const child = expectOk(() => fd.createNesting({ parent, protocol: 'user-pgtable' }), 'CREATE_NESTING(user-pgtable)');
    expectOk(() => wq.attachIoasid(child, { userPasid: gp }), `ATTACH wq0 → child with vPASID ${gp}`);
    const gt = guestTable(m, format);
    const a = guestData(m, gt.page, 60);
    const gva = 4n * gt.page;
    gt.pt.map(gva, a.gpa, gt.page, { read: true, write: true });
    expectOk(() => fd.bindPgtable({ ioasid: child, addr: gt.pt.root, format }), 'BIND_PGTABLE');

    const data = pattern(61, 32);
    expectErrno(() => m.kvm.enqcmd(wq, gp, { iova: gva, data }), 'EPERM', 'ENQCMD before KVM_MAP_PASID (#GP)');
    expectOk(() => m.kvm.mapPasid({ guestPasid: gp, fd, ioasid: child }), 'KVM_MAP_PASID');
    expectOk(() => m.kvm.enqcmd(wq, gp, { iova: gva + 0x40n, data }), 'ENQCMD from the guest');
    sameBytes(m.guest.read(a.gpa + 0x40n, data.length), data, 'the ENQCMD descriptor write lands in guest RAM through the guest table');
    sameBytes(expectOk(() => wq.dmaRead(gva + 0x40n, 32, { pasid: gp }), 'wq0 DMA with its vPASID'), data, 'the device DMA with the vPASID sees the same page');
    expectDmaFault(wq, () => m.kvm.enqcmd(wq, gp, { iova: gva + gt.page * 8n, data }), 'ENQCMD to an unmapped gVA');
    expectOk(() => m.kvm.unmapPasid(gp), 'KVM_UNMAP_PASID');
    expectErrno(() => m.kvm.enqcmd(wq, gp, { iova: gva, data }), 'EPERM', 'ENQCMD after KVM_UNMAP_PASID');
    closeFd(fd);
    check(m.pasids.inUse === 0, () => `close returns every host PASID (in use: ${m.pasids.inUse})`);
  },
};
