import { describe, expect, it } from 'vitest';
import { createMachine, didYouMean, registerVendor, type MachineContext, type VendorRegistration } from '../src/index.js';
import { MockDriver } from './mock-driver.js';
import { expectErrno, MiB, mockMachine } from './helpers.js';

// A vendor option declared for TypeScript as a vendor package declares it.
declare module '../src/base/machine-options.js' {
  interface VendorMachineOptions {
    /** opts-vendor: a number its driver reads. */
    queueDepth?: number;
  }
}

/** A vendor that reads one option of its own, `queueDepth`. */
class DepthDriver extends MockDriver {
  override readonly vendor = 'opts-vendor';
  readonly depth: unknown;
  constructor(ctx: MachineContext) {
    super(ctx);
    this.depth = ctx.options.queueDepth;
  }
}
const optsVendor: VendorRegistration = {
  vendor: 'opts-vendor',
  description: 'test vendor with one machine option',
  create: (ctx) => new DepthDriver(ctx),
  machineOptions: ['queueDepth'],
  defaultMachine: { queueDepth: 8, devices: [{ name: 'only' }] },
};
registerVendor(optsVendor);

describe('createMachine takes exactly the options core and the vendor declare (issue 19 item 1)', () => {
  it('refuses a misspelt option with EINVAL naming it and the option meant', () => {
    // @ts-expect-error -- the options are typed exactly: a misspelt key does not compile
    expectErrno(() => createMachine({ vendor: 'mock', devcies: [{ name: 'a' }] }), 'EINVAL', /unknown option 'devcies'; did you mean 'devices'\?/);
    // @ts-expect-error -- likewise
    expectErrno(() => createMachine({ vendor: 'mock', guestMemmory: 64n * MiB }), 'EINVAL', /unknown option 'guestMemmory'; did you mean 'guestMemory'\?/);
    expectErrno(() => createMachine({ vendor: 'mock', hostmemory: 1n << 30n } as never), 'EINVAL', /unknown option 'hostmemory'; did you mean 'hostMemory'\?/);
    // Nothing close: the error lists what the machine takes instead.
    expectErrno(() => createMachine({ vendor: 'mock', zzz: 1 } as never), 'EINVAL', /^EINVAL: unknown option 'zzz' \(options takes vendor, devices, hostMemory, guestMemory, guestHugePages, memlockLimit, container\)$/);
  });

  it('a vendor option works for the vendor that declares it and only there', () => {
    const m = createMachine({ vendor: 'opts-vendor', queueDepth: 32 });
    expect((m.driver as DepthDriver).depth).toBe(32);
    expect(m.deviceList.map((d) => d.name)).toEqual(['only']);
    // The default machine supplies it when the caller does not.
    expect((createMachine({ vendor: 'opts-vendor' }).driver as DepthDriver).depth).toBe(8);
    // Another vendor does not read it: a key nobody of this vendor declared, with its owner named.
    expectErrno(() => createMachine({ vendor: 'mock', queueDepth: 32 }), 'EINVAL', /unknown option 'queueDepth' \('queueDepth' is an option of opts-vendor, not mock\)/);
    expectErrno(() => createMachine({ vendor: 'opts-vendor', queuedepth: 32 } as never), 'EINVAL', /unknown option 'queuedepth'; did you mean 'queueDepth'\?.*takes .*container, queueDepth\)/);
  });

  it('an undefined option counts as absent, as everywhere else in the API', () => {
    expect(mockMachine({ hostMemory: undefined, devices: undefined }).m.deviceList.length).toBe(2);
  });
});

describe('every createMachine refusal names the argument (issue 19 item 4)', () => {
  it('the options object itself and core options', () => {
    for (const junk of [null, 7, 'mock', [], new Map()]) expectErrno(() => createMachine(junk as never), 'EINVAL', /^EINVAL: options must be/);
    expectErrno(() => createMachine({} as never), 'EINVAL', /options\.vendor must name a registered vendor \(got undefined\)/);
    expectErrno(() => createMachine({ vendor: 3 } as never), 'EINVAL', /options\.vendor must name a registered vendor \(got 3\)/);
    expectErrno(() => createMachine({ vendor: 'nonesuch' }), 'ENODEV', /^ENODEV: options\.vendor: vendor 'nonesuch' is not registered \(registered: .*mock.*\)/);
    expectErrno(() => createMachine({ vendor: 'mock', container: {} as never }), 'EINVAL', /options\.container must be a DependencyContainer/);
    expectErrno(() => mockMachine({ guestMemory: 4097n }), 'EINVAL', /options\.guestMemory must be a positive multiple of 4 KiB/);
    expectErrno(() => mockMachine({ guestMemory: 4096 as never }), 'EINVAL', /options\.guestMemory must be .* \(got 4096\)/);
    expectErrno(() => mockMachine({ guestHugePages: 'no' as never }), 'EINVAL', /options\.guestHugePages must be a boolean \(got "no"\)/);
    expectErrno(() => mockMachine({ memlockLimit: -1n }), 'EINVAL', /options\.memlockLimit must be a byte count/);
    expectErrno(() => mockMachine({ hostMemory: 1n }), 'EINVAL', /options\.hostMemory must be a multiple of 2 MiB/);
    const getter = Object.defineProperty({ vendor: 'mock' }, 'guestMemory', { get: () => 64n * MiB, enumerable: true });
    expectErrno(() => createMachine(getter), 'EINVAL', /options\.guestMemory is an accessor/);
  });

  it('each device by its index and field', () => {
    const devices = (...d: unknown[]) => () => mockMachine({ devices: d as never });
    expectErrno(devices('nic'), 'EINVAL', /options\.devices\[0\] must be an object \(got "nic"\)/);
    expectErrno(() => mockMachine({ devices: {} as never }), 'EINVAL', /options\.devices must be an array/);
    expectErrno(devices({ name: 'a' }, { nmae: 'b' }), 'EINVAL', /unknown option 'nmae' in options\.devices\[1\]; did you mean 'name'\?/);
    expectErrno(devices({ name: 'a' }, {}), 'EINVAL', /options\.devices\[1\]\.name must be a non-empty string/);
    expectErrno(devices({ name: 'a' }, { name: 'a' }), 'EEXIST', /options\.devices\[1\]\.name: device name 'a' is used twice/);
    expectErrno(devices({ name: 'a' }, { name: 'b' }, { name: 'c', rid: 0x10000 }), 'EINVAL', /options\.devices\[2\]\.rid: device c: rid must be a 16-bit requester ID \(got 0x10000\)/);
    expectErrno(devices({ name: 'a' }, { name: 'b', rid: '8' }), 'EINVAL', /options\.devices\[1\]\.rid: .*\(got "8"\)/);
    expectErrno(devices({ name: 'a', rid: 8 }, { name: 'b', rid: 8 }), 'EEXIST', /options\.devices\[1\]\.rid: device b: rid 0x8 is already used/);
    expectErrno(devices({ name: 'a', kind: 'vdev' }), 'EINVAL', /options\.devices\[0\]\.kind must be 'pdev' or 'mdev'/);
    expectErrno(devices({ name: 'm', kind: 'mdev', parent: 'x' }), 'EINVAL', /options\.devices\[0\]\.parent: mdev m: parent must name a pdev listed before it/);
    expectErrno(devices({ name: 'p' }, { name: 'm', kind: 'mdev', parent: 'p', rid: 16 }), 'EINVAL', /options\.devices\[1\]\.rid: mdev m rides on its parent's RID/);
    expectErrno(devices({ name: 'p', parent: 'q' }), 'EINVAL', /options\.devices\[0\]\.parent: only an mdev has a parent/);
    expectErrno(devices({ name: 'a', group: -1 }), 'EINVAL', /options\.devices\[0\]\.group must be a non-negative integer/);
    for (const key of ['ats', 'pri', 'enqcmd']) expectErrno(devices({ name: 'a', [key]: 1 }), 'EINVAL', new RegExp(`options\\.devices\\[0\\]\\.${key} must be a boolean \\(got 1\\)`));
  });

  it('nothing is allocated before the options are all read: a bad device leaves no machine half built', () => {
    // The device list is read before host memory exists; the error is the device's, not ENOMEM.
    expectErrno(() => mockMachine({ hostMemory: 64n * MiB, guestMemory: 1n << 40n, devices: [{ name: '' }] }), 'EINVAL', /options\.devices\[0\]\.name/);
  });
});

describe('a vendor declares its machine options when it registers (issue 19 item 1)', () => {
  const base = { description: 'option declarations', create: (ctx: MachineContext) => new MockDriver(ctx) };
  it('refuses malformed declarations and a default machine using undeclared keys', () => {
    expectErrno(() => registerVendor({ ...base, vendor: 'decl-a', machineOptions: 'depth' as never }), 'EINVAL', /registerVendor\('decl-a'\): machineOptions must be an array/);
    expectErrno(() => registerVendor({ ...base, vendor: 'decl-b', machineOptions: ['ok', 3 as never] }), 'EINVAL', /machineOptions\[1\] must be an option name/);
    expectErrno(() => registerVendor({ ...base, vendor: 'decl-c', machineOptions: ['devices'] }), 'EINVAL', /machineOptions\[0\]: 'devices' is one of core's own machine options/);
    expectErrno(() => registerVendor({ ...base, vendor: 'decl-d', machineOptions: ['x', 'x'] }), 'EINVAL', /machineOptions\[1\]: 'x' is listed twice/);
    expectErrno(
      () => registerVendor({ ...base, vendor: 'decl-e', machineOptions: ['queueDepth'], defaultMachine: { queuDepth: 1 } as never }),
      'EINVAL',
      /registerVendor\('decl-e'\): defaultMachine\.queuDepth is not a machine option of core or of this vendor; did you mean 'queueDepth'\?/,
    );
    expectErrno(() => registerVendor({ ...base, vendor: 'decl-f', defaultMachine: { vendor: 'mock' } as never }), 'EINVAL', /defaultMachine\.vendor is not a machine option/);
  });
});

describe('other option objects name a misspelt key and the one meant', () => {
  it('mmap, DMA and command options', () => {
    const { m } = mockMachine();
    expectErrno(() => m.vmm.mmap(2n * MiB, { hugepages: '2M' } as never), 'EINVAL', /options\.hugepages is not an mmap option \(only hugePages\); did you mean 'hugePages'\?/);
    const dev = m.device('dev0');
    expectErrno(() => dev.dmaRead(0n, 4, { pasdi: 1 } as never), 'EINVAL', /options has no field 'pasdi' \(it takes .*\); did you mean 'pasid'\?/);
    const fd = m.openIoasidFd();
    expectErrno(() => dev.bindIoasidFd(fd, { lable: 'x' } as never), 'EINVAL', /did you mean 'label'\?/);
    expectErrno(() => fd.alloc({ protocol: 'map', protocl: 'map' } as never), 'EINVAL', /ALLOC: the mock driver takes no format field 'protocl' for protocol 'map' \(it takes none\); did you mean 'protocol'\?/);
    expectErrno(() => fd.mapDma({ ioasid: fd.alloc({ protocol: 'map' }), iova: 0n, vaddr: 0n, size: 4096n, wirte: true } as never), 'EINVAL', /has no field 'wirte' .*; did you mean 'write'\?/);
  });

  it('suggests only names within a typo of the word', () => {
    expect(didYouMean('devcies', ['vendor', 'devices'])).toBe("; did you mean 'devices'?");
    expect(didYouMean('HOSTMEMORY', ['hostMemory'])).toBe("; did you mean 'hostMemory'?");
    expect(didYouMean('rdi', ['rid', 'pri'])).toBe("; did you mean 'rid'?");
    expect(didYouMean('colour', ['vendor', 'devices'])).toBe('');
    expect(didYouMean('x', [])).toBe('');
  });
});
