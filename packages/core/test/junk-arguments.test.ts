import { describe, expect, it } from 'vitest';
import { DmaFault, IoasidError, MAX_DMA_LENGTH, IOASID_COMMANDS, type Device, type IoasidFd, type Machine } from '../src/index.js';
import * as cmd from '../src/uapi/commands.js';
import { bytes, expectErrno, MiB, mockMachine } from './helpers.js';

/**
 * Issue 15, finding 3: every public fd, device and KVM call over a table of junk values. Only
 * IoasidError (or DmaFault, for a DMA the IOMMU blocks) may come out — a TypeError or RangeError
 * from junk input is a bug — and where the rule is clear, the exact errno and the argument's name.
 */

const hostile = new Proxy(
  {},
  {
    get() {
      throw new TypeError('proxy get');
    },
    ownKeys() {
      throw new TypeError('proxy ownKeys');
    },
    getPrototypeOf() {
      throw new TypeError('proxy getPrototypeOf');
    },
    has() {
      throw new TypeError('proxy has');
    },
    getOwnPropertyDescriptor() {
      throw new TypeError('proxy descriptor');
    },
  },
);
const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

const JUNK: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['2**53', 2 ** 53],
  ["'x'", 'x'],
  ["''", ''],
  ['true', true],
  ['Symbol()', Symbol('junk')],
  ['-1n', -1n],
  ['2n**64n', 1n << 64n],
  ['[]', []],
  ['[1, 2]', [1, 2]],
  ['{}', {}],
  ['Object.create(null)', Object.create(null)],
  ['new Date()', new Date(0)],
  ['a function', () => 1],
  ['a hostile proxy', hostile],
  ['a throwing toString', { toString: () => { throw new Error('toString'); } }],
  ['a throwing getter', { get ioasid() { throw new Error('getter'); } }],
  ['a cycle', cyclic],
  ['a Uint8Array', new Uint8Array(4)],
];

/** Runs fn: success is fine, an IoasidError or a DmaFault is fine, anything else fails the test. */
function onlyApiErrors(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof IoasidError || e instanceof DmaFault) return;
    throw new Error(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

interface World {
  m: Machine;
  fd: IoasidFd;
  dev: Device;
  md: Device;
  id: number;
  child: number;
  va: bigint;
}

function world(): World {
  const { m } = mockMachine({ devices: [{ name: 'dev0', pri: true, enqcmd: true }, { name: 'dev1' }, { name: 'pf' }, { name: 'md', kind: 'mdev', parent: 'pf', enqcmd: true }] });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  const md = m.device('md');
  dev.bindIoasidFd(fd);
  md.bindIoasidFd(fd);
  const id = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(id);
  md.attachIoasid(id);
  const va = m.vmm.mmap(MiB);
  fd.mapDma({ ioasid: id, iova: 0x100000n, vaddr: va, size: 0x10000n });
  const child = fd.createNesting({ parent: id, protocol: 'map' });
  return { m, fd, dev, md, id, child, va };
}

/** Every command that takes one argument object, with a valid argument. */
function objectCommands(w: World): [string, (arg: unknown) => unknown, Record<string, unknown>][] {
  const { fd, id } = w;
  return [
    ['REGISTER_MEMORY', (a) => fd.registerMemory(a as never), { vaddr: w.va + 0x80000n, size: 0x1000n }],
    ['UNREGISTER_MEMORY', (a) => fd.unregisterMemory(a as never), { vaddr: w.va + 0x80000n, size: 0x1000n }],
    ['ALLOC', (a) => fd.alloc(a as never), { protocol: 'map' }],
    ['CREATE_NESTING', (a) => fd.createNesting(a as never), { parent: id, protocol: 'map' }],
    ['MAP_DMA', (a) => fd.mapDma(a as never), { ioasid: id, iova: 0x200000n, vaddr: w.va, size: 0x1000n, read: true, write: false }],
    ['UNMAP_DMA', (a) => fd.unmapDma(a as never), { ioasid: id, iova: 0x100000n, size: 0x10000n }],
    ['BIND_PGTABLE', (a) => fd.bindPgtable(a as never), { ioasid: id, addr: 0n, format: { kind: 'x' } }],
    ['BIND_PASID_TABLE', (a) => fd.bindPasidTable(a as never), { ioasid: id, addr: 0n, format: { kind: 'x' } }],
    ['INVALIDATE_CACHE', (a) => fd.invalidateCache(a as never), { ioasid: id, iova: 0n, size: 0x1000n, pasid: 1 }],
    ['PAGE_RESPONSE', (a) => fd.pageResponse(a as never), { ioasid: id, id: 1, code: 'success' }],
    ['KVM_MAP_PASID', (a) => w.m.kvm.mapPasid(a as never), { guestPasid: 3, fd, ioasid: id }],
    ['ioctl(LOOKUP)', (a) => fd.ioctl(cmd.IOASID_LOOKUP, a), { ioasid: id, iova: 0n, pasid: 1 }],
    ['ioctl(FREE)', (a) => fd.ioctl(cmd.IOASID_FREE, a), { ioasid: w.child }],
    ['ioctl(GET_INFO)', (a) => fd.ioctl(cmd.IOASID_GET_INFO, a), { ioasid: id }],
  ];
}

/** Every call that takes an IOASID number. */
function ioasidCalls(w: World): [string, (x: unknown) => unknown][] {
  const { fd, dev } = w;
  return [
    ['FREE', (x) => fd.free(x as never)],
    ['GET_INFO', (x) => fd.getInfo(x as never)],
    ['READ_FAULTS', (x) => fd.readFaults(x as never)],
    ['DUMP_PGTABLE', (x) => fd.dumpPgtable(x as never)],
    ['LOOKUP', (x) => fd.lookup(x as never, 0n)],
    ['ATTACH_IOASID', (x) => dev.attachIoasid(x as never, { userPasid: 9 })],
    ['DETACH_IOASID', (x) => dev.detachIoasid(x as never)],
    ['ioctl(DUMP_PGTABLE)', (x) => fd.ioctl(cmd.IOASID_DUMP_PGTABLE, x)],
  ];
}

describe('junk in every argument: only IoasidError comes out', () => {
  it('fd commands taking an argument object: the whole object, each field, and an extra field', () => {
    for (const [name, call, valid] of objectCommands(world())) {
      for (const [jname, j] of JUNK) {
        const w = world();
        const [, fresh] = objectCommands(w).find(([n]) => n === name)!;
        onlyApiErrors(`${name}(${jname})`, () => fresh(j));
        const ioasidNumber = typeof j === 'number' && Number.isInteger(j) && j >= 0; // ioctl(FREE / GET_INFO, n) is that IOASID
        if (j === undefined || j === null || (typeof j === 'number' && !(name.startsWith('ioctl(') && ioasidNumber)) || typeof j === 'string' || typeof j === 'boolean' || Array.isArray(j)) {
          expectErrno(() => fresh(j), 'EINVAL', /arguments must be an object|must be an object|not an array|ioasid must be an IOASID number/);
        }
        for (const field of Object.keys(valid)) onlyApiErrors(`${name}({ ${field}: ${jname} })`, () => fresh({ ...valid, [field]: j }));
      }
      const w = world();
      const [, fresh, v] = objectCommands(w).find(([n]) => n === name)!;
      if (name === 'ALLOC' || name === 'CREATE_NESTING') {
        // ALLOC / CREATE_NESTING name it as a vendor format field the driver does not take.
        expectErrno(() => fresh({ ...v, bogus: 1 }), 'EINVAL', /format field 'bogus'/);
      } else if (name.startsWith('BIND')) {
        // On a 'map' IOASID the protocol is checked first (§9): EOPNOTSUPP whatever the fields.
        expectErrno(() => fresh({ ...v, bogus: 1 }), 'EOPNOTSUPP');
      } else {
        expectErrno(() => fresh({ ...v, bogus: 1 }), 'EINVAL', /no field 'bogus'/);
      }
    }
  });

  it('the extra field comes after the IOASID is looked up (ENOENT first, §9)', () => {
    const w = world();
    expectErrno(() => w.fd.mapDma({ ioasid: 999, iova: 0n, vaddr: w.va, size: 0x1000n, bogus: 1 } as never), 'ENOENT');
    expectErrno(() => w.fd.mapDma({ ioasid: w.id, iova: 0n, vaddr: w.va, size: 0x1000n, bogus: 1 } as never), 'EINVAL', /MAP_DMA has no field 'bogus'/);
    expectErrno(() => w.fd.unmapDma({ ioasid: w.id, iova: 0x100000n, size: 0x10000n, bogus: 1 } as never), 'EINVAL', /bogus/);
    expectErrno(() => w.fd.ioctl(cmd.IOASID_FREE, { ioasid: 999, bogus: 1 }), 'ENOENT');
    expectErrno(() => w.fd.ioctl(cmd.IOASID_FREE, { ioasid: w.child, bogus: 1 }), 'EINVAL', /bogus/);
    expectErrno(() => w.fd.mapDma({ ioasid: w.id, iova: 0x300000n, vaddr: w.va, size: 0x1000n, read: 'yes' } as never), 'EINVAL', /read must be a boolean/);
  });

  it('calls taking an IOASID: EINVAL for what is not a number, ENOENT for an unknown one', () => {
    for (const [name] of ioasidCalls(world())) {
      for (const [jname, j] of JUNK) {
        const w = world();
        const call = ioasidCalls(w).find(([n]) => n === name)![1];
        onlyApiErrors(`${name}(${jname})`, () => call(j));
        if (typeof j !== 'number' || !Number.isInteger(j) || j < 0) {
          if (name.startsWith('ioctl') && typeof j === 'object' && j !== null && !Array.isArray(j)) continue;
          expectErrno(() => call(j), 'EINVAL', /ioasid|arguments/);
        }
      }
      expectErrno(() => ioasidCalls(world()).find(([n]) => n === name)![1](4242), 'ENOENT');
    }
  });

  it('the rest of the fd: CHECK_EXTENSION, LOOKUP options, ioctl numbers, closed fds', () => {
    const w = world();
    for (const [jname, j] of JUNK) {
      onlyApiErrors(`checkExtension(${jname})`, () => w.fd.checkExtension(j as never));
      if (typeof j !== 'string') expectErrno(() => w.fd.checkExtension(j as never), 'EINVAL', /ext/);
      onlyApiErrors(`lookup(id, ${jname})`, () => w.fd.lookup(w.id, j as never));
      onlyApiErrors(`lookup(id, 0n, ${jname})`, () => w.fd.lookup(w.id, 0n, j as never));
      onlyApiErrors(`ioctl(${jname})`, () => w.fd.ioctl(j as never, {}));
      for (const number of Object.values(IOASID_COMMANDS)) onlyApiErrors(`ioctl(0x${number.toString(16)}, ${jname})`, () => world().fd.ioctl(number, j));
    }
    expectErrno(() => w.fd.ioctl(Symbol('x') as never), 'EINVAL', /command must be an ioctl number/);
    expectErrno(() => w.fd.ioctl(NaN), 'EINVAL', /command/);
    expectErrno(() => w.fd.ioctl(1.5), 'EINVAL', /command/);
    expectErrno(() => w.fd.ioctl('0x3b66' as never), 'EINVAL', /command/);
    expectErrno(() => w.fd.lookup(w.id, 0n, { pasid: 1, bogus: 1 } as never), 'EINVAL', /bogus/);
    expectErrno(() => w.fd.lookup(w.id, 0n, null as never), 'EINVAL', /options/);
    w.fd.close();
    for (const call of [() => w.fd.alloc({ protocol: 'map' }), () => w.fd.mapDma(null as never), () => w.fd.ioctl(cmd.IOASID_GET_INFO, 1), () => w.fd.getInfo('x' as never)]) {
      expectErrno(call, 'EBADF');
    }
  });

  it('device calls: BIND_IOASID_FD, ATTACH/DETACH options, DMA lengths, bytes and options', () => {
    for (const [jname, j] of JUNK) {
      const w = world();
      const d1 = w.m.device('dev1');
      const fd2 = w.m.openIoasidFd();
      onlyApiErrors(`bindIoasidFd(${jname})`, () => d1.bindIoasidFd(j as never));
      expectErrno(() => d1.bindIoasidFd(j as never), 'EINVAL', /fd must be an open IOASID fd/);
      // Options: undefined means none; anything but an object is EINVAL naming options.
      const notOptions = j !== undefined && (typeof j !== 'object' || j === null || Array.isArray(j));
      onlyApiErrors(`bindIoasidFd(fd, ${jname})`, () => d1.bindIoasidFd(fd2, j as never));
      if (notOptions) expectErrno(() => w.m.device('dev1').bindIoasidFd(w.m.openIoasidFd(), j as never), 'EINVAL', /options/);
      if (j !== undefined && (typeof j !== 'string' || j === '')) expectErrno(() => w.m.device('dev1').bindIoasidFd(w.m.openIoasidFd(), { label: j } as never), 'EINVAL', /label/);
      if (notOptions) expectErrno(() => w.dev.attachIoasid(w.child, j as never), 'EINVAL', /options/);
      const aPasid = typeof j === 'number' && Number.isInteger(j) && j >= 0 && j < 1 << 20;
      if (j !== undefined && !aPasid) expectErrno(() => w.dev.attachIoasid(w.child, { userPasid: j } as never), 'EINVAL', /userPasid/);
      if (notOptions) expectErrno(() => w.dev.detachIoasid(w.id, j as never), 'EINVAL', /options/);
      onlyApiErrors(`attachIoasid(child, ${jname})`, () => w.dev.attachIoasid(w.child, j as never));
      onlyApiErrors(`dmaRead(${jname}, 4)`, () => w.dev.dmaRead(j as never, 4));
      if (typeof j !== 'bigint') expectErrno(() => w.dev.dmaRead(j as never, 4), 'EINVAL', /iova/);
      onlyApiErrors(`dmaRead(iova, ${jname})`, () => w.dev.dmaRead(0x100000n, j as never));
      onlyApiErrors(`dmaRead(iova, 4, ${jname})`, () => w.dev.dmaRead(0x100000n, 4, j as never));
      if (notOptions) expectErrno(() => w.dev.dmaRead(0x100000n, 4, j as never), 'EINVAL', /options/);
      onlyApiErrors(`dmaRead(iova, 4, { pasid: ${jname} })`, () => w.dev.dmaRead(0x100000n, 4, { pasid: j as never }));
      onlyApiErrors(`dmaWrite(iova, ${jname})`, () => w.dev.dmaWrite(0x100000n, j as never));
      if (!ArrayBuffer.isView(j)) expectErrno(() => w.dev.dmaWrite(0x100000n, j as never), 'EINVAL', /bytes must be a Uint8Array/);
      onlyApiErrors(`dmaWrite(iova, bytes, ${jname})`, () => w.dev.dmaWrite(0x100000n, bytes(1), j as never));
      onlyApiErrors(`md.dmaWrite(iova, bytes, { pasid: ${jname}, privileged: ${jname} })`, () => w.md.dmaWrite(0x100000n, bytes(1), { pasid: j, privileged: j } as never));
      onlyApiErrors(`wire(${jname})`, () => w.dev.wire(j as never));
      onlyApiErrors(`unbind + junk`, () => (w.dev.unbindIoasidFd as (x: unknown) => void)(j));
    }
    const w = world();
    expectErrno(() => w.dev.attachIoasid(w.child, null as never), 'EINVAL', /options must be an object/);
    expectErrno(() => w.dev.attachIoasid(w.child, { userPasid: 1, bogus: 1 } as never), 'EINVAL', /bogus/);
    expectErrno(() => w.m.device('dev1').bindIoasidFd({} as never), 'EINVAL', /fd/);
    expectErrno(() => w.m.device('dev1').bindIoasidFd(w.fd, null as never), 'EINVAL', /options/);
    expectErrno(() => w.m.device('dev1').bindIoasidFd(w.fd, { label: 'x', bogus: 1 } as never), 'EINVAL', /bogus/);
    expectErrno(() => w.dev.dmaRead(0x100000n, 2 ** 53), 'EINVAL', /largest single DMA/);
    expectErrno(() => w.dev.dmaRead(0x100000n, MAX_DMA_LENGTH + 1), 'EINVAL', /1 GiB/);
    expect(() => w.dev.dmaRead((1n << 64n) - 2n, 4)).toThrow(DmaFault); // past 2^64: the IOMMU blocks the first page
    expectErrno(() => w.dev.dmaWrite(0x100000n, null as never), 'EINVAL', /bytes/);
    expectErrno(() => w.dev.dmaWrite(0x100000n, [1, 2] as never), 'EINVAL', /bytes/);
    expectErrno(() => w.dev.dmaWrite(0x100000n, 'ab' as never), 'EINVAL', /bytes/);
    expectErrno(() => w.dev.dmaWrite(0x100000n, new Uint16Array(2) as never), 'EINVAL', /bytes/);
    expectErrno(() => w.dev.dmaRead(0x100000n, 4, { privileged: 'yes' } as never), 'EINVAL', /privileged/);
    expectErrno(() => w.dev.dmaRead(0x100000n, 4, { pasid: 1, bogus: 1 } as never), 'EINVAL', /bogus/);
    expect(w.dev.dmaRead(0x100000n, 0)).toHaveLength(0);
  });

  it('BIND_IOASID_FD with an fd of another machine is EINVAL, and binds nothing', () => {
    const a = mockMachine().m;
    const b = mockMachine().m;
    const foreign = b.openIoasidFd();
    expectErrno(() => a.device('dev0').bindIoasidFd(foreign), 'EINVAL', /of this machine/);
    expect(a.device('dev0').fd).toBeUndefined();
    expect(foreign.describe().devices).toEqual([]);
    const closed = a.openIoasidFd();
    closed.close();
    expectErrno(() => a.device('dev0').bindIoasidFd(closed), 'EINVAL', /closed/);
  });

  it('KVM calls: KVM_MAP_PASID, KVM_UNMAP_PASID, ENQCMD', () => {
    for (const [jname, j] of JUNK) {
      const w = world();
      onlyApiErrors(`kvm.unmapPasid(${jname})`, () => w.m.kvm.unmapPasid(j as never));
      onlyApiErrors(`kvm.translate(${jname})`, () => w.m.kvm.translate(j as never));
      onlyApiErrors(`kvm.enqcmd(${jname}, …)`, () => w.m.kvm.enqcmd(j as never, 1, { iova: 0n, data: bytes(1) }));
      if (typeof j !== 'number' || !Number.isInteger(j) || j < 0) expectErrno(() => w.m.kvm.enqcmd(w.md, j as never, { iova: 0n, data: bytes(1) }), 'EINVAL', /guestPasid/);
      expectErrno(() => w.m.kvm.enqcmd(w.md, 1, j as never), 'EINVAL', /descriptor/);
      onlyApiErrors(`kvm.enqcmd(md, 1, { iova: ${jname} })`, () => w.m.kvm.enqcmd(w.md, 1, { iova: j as never, data: bytes(1) }));
      onlyApiErrors(`kvm.enqcmd(md, 1, { data: ${jname} })`, () => w.m.kvm.enqcmd(w.md, 1, { iova: 0n, data: j as never }));
    }
    const w = world();
    expectErrno(() => w.m.kvm.enqcmd({} as never, 1, { iova: 0n, data: bytes(1) }), 'EINVAL', /device/);
    expectErrno(() => w.m.kvm.mapPasid({ guestPasid: 3, fd: {} as never, ioasid: w.id }), 'EBADF');
    expectErrno(() => w.m.kvm.mapPasid({ guestPasid: 3, fd: w.fd, ioasid: w.id, bogus: 1 } as never), 'EINVAL', /bogus/);
  });
});
