import { describe, expect, it } from 'vitest';
import * as cmd from '../src/uapi/commands.js';
import { DmaFault, type IoasidInfo, type LookupView, type DomainDump, type IoFault } from '../src/index.js';
import { bytes, expectErrno, MiB, mockMachine } from './helpers.js';

describe('ioctl dispatcher: every command through its number', () => {
  it('runs flow 5.1 and the fault and debug commands by number, as trace replay does', () => {
    const { m } = mockMachine({ devices: [{ name: 'dev0', pri: true }] });
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'nic' });
    const va = m.vmm.mmap(MiB);
    expect(fd.ioctl(cmd.IOASID_CHECK_EXTENSION, 'software-nesting')).toBe(1);
    fd.ioctl(cmd.IOASID_REGISTER_MEMORY, { vaddr: va, size: MiB });
    const id = fd.ioctl(cmd.IOASID_ALLOC, { protocol: 'map' }) as number;
    dev.attachIoasid(id);
    expect((fd.ioctl(cmd.IOASID_GET_INFO, { ioasid: id }) as IoasidInfo).protocols).toEqual(['map']);
    expect((fd.ioctl(cmd.IOASID_GET_INFO, id) as IoasidInfo).pageSizes[0]).toBe(4096n);
    fd.ioctl(cmd.IOASID_MAP_DMA, { ioasid: id, iova: 0x200000n, vaddr: va, size: 0x2000n });
    m.vmm.write(va + 0x1004n, bytes(7));
    expect([...dev.dmaRead(0x201004n, 1)]).toEqual([7]);
    const view = fd.ioctl(cmd.IOASID_LOOKUP, { ioasid: id, iova: 0x201004n }) as LookupView;
    expect(view.steps).toHaveLength(3);
    expect(view.output).not.toBeNull();
    const dump = fd.ioctl(cmd.IOASID_DUMP_PGTABLE, { ioasid: id }) as DomainDump;
    expect(dump.root?.entries).toHaveLength(1);
    fd.ioctl(cmd.IOASID_INVALIDATE_CACHE, { ioasid: id, all: true });
    expect(() => dev.dmaRead(0x300000n, 1)).toThrow(DmaFault);
    const [f] = fd.ioctl(cmd.IOASID_READ_FAULTS, { ioasid: id }) as IoFault[];
    expect(f).toMatchObject({ label: 'nic', kind: 'page-request', iova: 0x300000n });
    fd.ioctl(cmd.IOASID_PAGE_RESPONSE, { ioasid: id, id: f.id, code: 'invalid' });
    expect(dev.pageResponses).toEqual([{ pasid: undefined, iova: 0x300000n, code: 'invalid' }]);
    const child = fd.ioctl(cmd.IOASID_CREATE_NESTING, { parent: id, protocol: 'map' }) as number;
    expectErrno(() => fd.ioctl(cmd.IOASID_BIND_PGTABLE, { ioasid: child, addr: 0n, format: { kind: 'x' } }), 'EOPNOTSUPP');
    expectErrno(() => fd.ioctl(cmd.IOASID_BIND_PASID_TABLE, { ioasid: child, addr: 0n, format: { kind: 'x' } }), 'EOPNOTSUPP');
    expect(fd.ioctl(cmd.IOASID_UNMAP_DMA, { ioasid: id, all: true })).toBe(0x2000n);
    fd.ioctl(cmd.IOASID_UNREGISTER_MEMORY, { vaddr: va, size: MiB });
    fd.ioctl(cmd.IOASID_FREE, { ioasid: child });
    dev.detachIoasid(id);
    fd.ioctl(cmd.IOASID_FREE, id);
    expectErrno(() => fd.ioctl(cmd.IOASID_GET_INFO, id), 'ENOENT');
    expect(Object.values(cmd.IOASID_COMMANDS)).toHaveLength(new Set(Object.values(cmd.IOASID_COMMANDS)).size);
  });

  it('checks arguments of the remaining commands with their errno', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const id = fd.alloc({ protocol: 'map' });
    expectErrno(() => fd.invalidateCache({ ioasid: id, iova: 0n, size: 0n }), 'EINVAL', /size/);
    expectErrno(() => fd.invalidateCache({ ioasid: id, all: true, pasid: -2 }), 'EINVAL', /pasid/);
    expectErrno(() => fd.invalidateCache({ ioasid: 77, all: true }), 'ENOENT');
    expectErrno(() => fd.registerMemory({ vaddr: 0x1001n, size: 0x1000n }), 'EINVAL', /aligned/);
    expectErrno(() => fd.registerMemory({ vaddr: 0x1000n, size: 0n }), 'EINVAL', /zero/);
    expectErrno(() => fd.registerMemory({ vaddr: 0x1000n, size: 0x1000n }), 'EFAULT', /not mapped/);
    expectErrno(() => fd.unmapDma({ ioasid: id, all: true, iova: 0n } as never), 'EINVAL', /unmap-all/);
    expectErrno(() => fd.createNesting({ parent: 42, protocol: 'map' }), 'ENOENT', /parent/);
    expectErrno(() => fd.lookup(id, -1n), 'EINVAL', /iova/);
    expect(fd.checkExtension('nonsense' as never)).toBe(0);
    expect(fd.readFaults(id)).toEqual([]);
  });
});

describe('fd.describe()', () => {
  it('reports IOASIDs, maps, attachments and accounting as plain data, without changing anything', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'nic' });
    const id = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(id);
    const va = m.vmm.mmap(0x4000n);
    fd.mapDma({ ioasid: id, iova: 0x10000n, vaddr: va, size: 0x4000n, write: false });
    const child = fd.createNesting({ parent: id, protocol: 'map' });
    const frames = m.hostMemory.framesInUse;
    const d = fd.describe();
    expect(d).toEqual({
      ioasids: [
        { id, protocol: 'map', nesting: 'none', parent: undefined, children: [child], maps: [{ iova: 0x10000n, size: 0x4000n, vaddr: va, read: true, write: false }], attachments: [{ device: 'dev0', userPasid: undefined, wirePasid: undefined }], bound: undefined },
        { id: child, protocol: 'map', nesting: 'software', parent: id, children: [], maps: [], attachments: [], bound: undefined },
      ],
      devices: [{ name: 'dev0', label: 'nic' }],
      lockedPages: 4,
      registrations: [],
    });
    expect(m.hostMemory.framesInUse).toBe(frames);
    fd.close();
    expectErrno(() => fd.describe(), 'EBADF');
  });
});

describe('CHECK_EXTENSION answers for the machine: what depends on the IOMMU follows its GET_INFO', () => {
  it('hardware nesting and page faults follow the devices the IOMMU describes; core-provided ones are always there', async () => {
    const { mockMachine } = await import('./helpers.js');
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const caps = m.deviceList.map((d) => m.driver.capabilities(d.desc));
    expect(caps.every((c) => c.nesting !== 'hardware')).toBe(true);
    expect(fd.checkExtension('hardware-nesting')).toBe(0);
    expect(fd.checkExtension('page-faults')).toBe(caps.some((c) => c.pageRequest) ? 1 : 0);
    for (const ext of ['pre-registration', 'software-nesting', 'unmap-all'] as const) expect(fd.checkExtension(ext)).toBe(1);
  });
});
