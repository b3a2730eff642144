import { describe, expect, it } from 'vitest';
import { expectErrno, MiB, powerMachine } from './helpers.js';

describe('the PHB has no dirty logging (TCEs carry no dirty state), and says so', () => {
  it('GET_INFO, CHECK_EXTENSION and both commands agree: dirtyTracking false, 0, EOPNOTSUPP', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'nic' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    fd.mapDma({ ioasid, iova: 0n, vaddr: m.vmm.mmap(MiB), size: MiB });
    expect(dev.getInfo().dirtyTracking).toBe(false);
    expect(fd.getInfo(ioasid).dirtyTracking).toBe(false);
    expect(fd.checkExtension('dirty-tracking')).toBe(0);
    expectErrno(() => fd.setDirtyTracking({ ioasid, enable: true }), 'EOPNOTSUPP', /power-tce IOMMU does not log dirty pages/);
    expectErrno(() => fd.getDirtyBitmap({ ioasid, iova: 0n, size: MiB, pageSize: 4096n }), 'EOPNOTSUPP', /dirtyTracking: false/);
  });
});
