import { describe, expect, it } from 'vitest';
import { DmaFault } from '../src/index.js';
import { bytes, expectErrno, mockMachine } from './helpers.js';

describe('I/O page faults (READ_FAULTS / PAGE_RESPONSE)', () => {
  it('queues a page request with the device label and routes the response back', () => {
    const { m, driver } = mockMachine({ devices: [{ name: 'gpu', pri: true }, { name: 'nic' }] });
    const fd = m.openIoasidFd();
    const gpu = m.device('gpu');
    gpu.bindIoasidFd(fd, { label: 'vgpu0' });
    const a = fd.alloc({ protocol: 'map' });
    gpu.attachIoasid(a, { userPasid: 9 });
    expect(() => gpu.dmaWrite(0x5000n, bytes(1), { pasid: 9 })).toThrow(DmaFault);
    const [f] = fd.readFaults(a);
    expect(f).toMatchObject({ ioasid: a, label: 'vgpu0', device: 'gpu', pasid: 9, iova: 0x5000n, write: true, kind: 'page-request' });
    expect(fd.readFaults(a)).toEqual([]);
    expectErrno(() => fd.pageResponse({ ioasid: a, id: f.id + 100, code: 'success' }), 'ENOENT');
    expectErrno(() => fd.pageResponse({ ioasid: a, id: f.id, code: 'maybe' as never }), 'EINVAL', /code/);
    fd.pageResponse({ ioasid: a, id: f.id, code: 'success' });
    expect(gpu.pageResponses).toEqual([{ pasid: 9, iova: 0x5000n, code: 'success' }]);
    expect(driver.responses).toEqual([{ rid: gpu.rid, pasid: 9, code: 'success' }]);
    expectErrno(() => fd.pageResponse({ ioasid: a, id: f.id, code: 'success' }), 'ENOENT');
  });

  it('reports faults of a device without PRI as unrecoverable', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const d = m.device('dev0');
    d.bindIoasidFd(fd, { label: 'x' });
    const a = fd.alloc({ protocol: 'map' });
    d.attachIoasid(a);
    expect(() => d.dmaRead(0n, 4)).toThrow(DmaFault);
    const [f] = fd.readFaults(a);
    expect(f.kind).toBe('unrecoverable');
    expectErrno(() => fd.pageResponse({ ioasid: a, id: f.id, code: 'success' }), 'ENOENT');
  });
});

describe('mdev PASIDs and ENQCMD through KVM (proposal §4, §5.5)', () => {
  function vm() {
    const { m } = mockMachine({
      devices: [
        { name: 'dsa', enqcmd: true },
        { name: 'wq0', kind: 'mdev', parent: 'dsa', enqcmd: true },
        { name: 'wq1', kind: 'mdev', parent: 'dsa', enqcmd: true },
        { name: 'vf', enqcmd: true },
        { name: 'nic' },
      ],
    });
    const fd = m.openIoasidFd();
    for (const n of ['wq0', 'wq1', 'vf']) m.device(n).bindIoasidFd(fd, { label: n });
    const a = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid: a, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size });
    return { m, fd, a };
  }

  it('gives an mdev a host PASID on its parent RID, shared by ENQCMD mdevs of one IOASID', () => {
    const { m, fd, a } = vm();
    const wq0 = m.device('wq0');
    wq0.attachIoasid(a);
    m.device('wq1').attachIoasid(a);
    const host = fd.mdevHostPasid(wq0, undefined)!;
    expect(host).toBeGreaterThan(0);
    expect(fd.mdevHostPasid(m.device('wq1'), undefined)).toBe(host);
    expect(wq0.rid).toBe(m.device('dsa').rid);
    wq0.dmaWrite(0x3000n, bytes(4, 2));
    expect([...m.guest.read(0x3000n, 2)]).toEqual([4, 2]);
  });

  it('translates the guest PASID of ENQCMD to the host PASID KVM was given', () => {
    const { m, fd, a } = vm();
    const wq0 = m.device('wq0');
    wq0.attachIoasid(a, { userPasid: 7 });
    expectErrno(() => m.kvm.enqcmd(wq0, 7, { iova: 0x8000n, data: bytes(1) }), 'EPERM', /#GP/);
    m.kvm.mapPasid({ guestPasid: 7, fd, ioasid: a });
    expect(m.kvm.translate(7)).toBe(fd.mdevHostPasid(wq0, 7));
    m.kvm.enqcmd(wq0, 7, { iova: 0x8000n, data: bytes(0xaa) });
    expect([...m.guest.read(0x8000n, 1)]).toEqual([0xaa]);
    expectErrno(() => m.kvm.mapPasid({ guestPasid: 7, fd, ioasid: a }), 'EEXIST');
    expectErrno(() => m.kvm.mapPasid({ guestPasid: 8, fd, ioasid: 99 }), 'ENOENT');
    expectErrno(() => m.kvm.enqcmd(m.device('nic'), 7, { iova: 0n, data: bytes(1) }), 'EOPNOTSUPP');
    // ENQCMD exposed on mdevs: a pdev may no longer put vPASIDs on the wire.
    expectErrno(() => m.device('vf').attachIoasid(a, { userPasid: 3 }), 'EBUSY', /ENQCMD/);
    m.kvm.unmapPasid(7);
    expectErrno(() => m.kvm.unmapPasid(7), 'ENOENT');
    m.device('vf').attachIoasid(a, { userPasid: 3 });
    expectErrno(() => m.kvm.mapPasid({ guestPasid: 7, fd, ioasid: a }), 'EBUSY', /pdev vf/);
  });

  it('refuses KVM_MAP_PASID when no device of the fd accepts ENQCMD', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    m.device('dev0').bindIoasidFd(fd);
    const a = fd.alloc({ protocol: 'map' });
    expectErrno(() => m.kvm.mapPasid({ guestPasid: 1, fd, ioasid: a }), 'EOPNOTSUPP', /ENQCMD/);
    expect(m.kvm.hasMappings).toBe(false);
  });
});
