import { describe, expect, it } from 'vitest';
import { IOASID_LOOKUP, isTraceRead, type TraceRead } from '../src/index.js';
import { expectErrno, MiB, mockMachine } from './helpers.js';

function mapped() {
  const { m, driver } = mockMachine();
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const vaddr = m.vmm.mmap(2n * MiB);
  fd.mapDma({ ioasid, iova: 0x40000000n, vaddr, size: 0x2000n, read: true, write: false });
  return { m, driver, fd, dev, ioasid, vaddr };
}

describe('LOOKUP carries the hardware walk of an attached device (trace hook)', () => {
  it('records every read in order and ends in the output address of the byte, as the DMA reaches it', () => {
    const { m, fd, dev, ioasid, vaddr } = mapped();
    const v = fd.lookup(ioasid, 0x40001234n);
    const reads = v.trace!.events.filter(isTraceRead);
    expect(reads.map((r) => r.structure)).toEqual(['device-table slot', 'level 2 entry', 'level 1 entry', 'level 0 entry']);
    expect(reads[0].raw[0]).toBe(m.hostMemory.u64(Number(reads[0].addr)));
    expect(v.trace!.output).toBe(v.output);
    expect(v.trace!.perms).toEqual({ read: true, write: false });
    expect(v.trace!.pageSize).toBe(4096n);
    m.vmm.write(vaddr + 0x1234n, new Uint8Array([0xab]));
    expect(m.hostMemory.read(v.trace!.output!, 1)[0]).toBe(0xab);
    expect(dev.dmaRead(0x40001234n, 1)[0]).toBe(0xab);
  });

  it('reports the fault the request would meet, a write to a read-only page included, and records nothing', () => {
    const { driver, fd, ioasid } = mapped();
    expect(fd.lookup(ioasid, 0x50000000n).trace!.fault).toMatchObject({ name: 'NOT_PRESENT', rid: 8 });
    expect(fd.lookup(ioasid, 0x40000000n, { write: true }).trace!.fault).toMatchObject({ name: 'PERMISSION', write: true });
    expect(fd.readFaults(ioasid)).toEqual([]);
    expect(driver.hw.iotlb.size).toBe(0);
  });

  it('without caches shows what memory says; with caches, the stale IOTLB entry a DMA would still use', () => {
    const { driver, fd, dev, ioasid } = mapped();
    dev.dmaRead(0x40000000n, 4);
    driver.domains[0].forgetFlush = true;
    fd.unmapDma({ ioasid, iova: 0x40000000n, size: 0x2000n });
    const fromMemory = fd.lookup(ioasid, 0x40000000n).trace!;
    expect(fromMemory.fault?.name).toBe('NOT_PRESENT');
    const cached = fd.lookup(ioasid, 0x40000000n, { caches: true }).trace!;
    expect(cached.events[0]).toEqual({ cache: 'IOTLB', hit: true });
    expect(cached.output).toBeDefined();
    expect(dev.dmaRead(0x40000000n, 4)).toHaveLength(4); // the stale translation the trace predicted
  });

  it('picks the named device, refuses one not attached, and has no trace when nothing reaches the IOASID', () => {
    const { m, fd, ioasid } = mapped();
    const other = fd.alloc({ protocol: 'map' });
    expect(fd.lookup(other, 0n).trace).toBeUndefined();
    expect(fd.lookup(ioasid, 0x40000000n, { device: 'dev0' }).trace!.events.filter(isTraceRead)[0]).toMatchObject<Partial<TraceRead>>({ fields: { V: true, ROOT: expect.any(BigInt) } });
    m.device('dev1').bindIoasidFd(fd, { label: 'b' });
    expectErrno(() => fd.lookup(ioasid, 0n, { device: 'dev1' }), 'EINVAL', /options\.device: dev1 is not attached to IOASID 1/);
    expectErrno(() => fd.lookup(ioasid, 0n, { write: 1 as never }), 'EINVAL', /options\.write must be a boolean/);
    expectErrno(() => fd.lookup(ioasid, 0n, { nonsense: 1 } as never), 'EINVAL', /nonsense/);
  });

  it('IOASID_LOOKUP takes the same options through the ioctl', () => {
    const { fd, ioasid } = mapped();
    const v = fd.ioctl(IOASID_LOOKUP, { ioasid, iova: 0x40000000n, device: 'dev0', write: true }) as { trace: { fault: { name: string } } };
    expect(v.trace.fault.name).toBe('PERMISSION');
  });

  it('device.traceDma traces the request the device itself would send, with its options checked', () => {
    const { m, fd, dev, ioasid } = mapped();
    const t = dev.traceDma(0x40000010n)!;
    expect(t.output).toBe(fd.lookup(ioasid, 0x40000010n).output);
    expect(dev.traceDma(0x40000010n, { write: true })!.fault?.name).toBe('PERMISSION');
    // dev1 is bound nowhere: its RID has no device-table slot.
    expect(m.device('dev1').traceDma(0x40000010n)!.fault?.name).toBe('NO_CONTEXT');
    expectErrno(() => dev.traceDma(0x40000010n, { write: 'yes' as never }), 'EINVAL', /options\.write/);
    expectErrno(() => dev.traceDma(-1n), 'EINVAL', /iova/);
  });
});
