import { describe, expect, it } from 'vitest';
import {
  container,
  fail,
  IoasidError,
  IoasidFd,
  IOASID_LIMIT,
  registerVendor,
  createMachine,
  type DeviceDesc,
  type DomainRequest,
  type IoasidInfo,
  type IommuDomain,
  type MachineContext,
  type PgtableFormat,
} from '../src/index.js';
import { MockDriver } from './mock-driver.js';
import { expectErrno, MiB, mockMachine } from './helpers.js';

/** Issue 15, finding 3: validation gaps of INVALIDATE_CACHE, MAP_DMA, ALLOC / CREATE_NESTING / BIND formats, copies. */

/** A user-pgtable child that only records what it was bound with (the mock has no stage 1). */
class RecordingChild implements IommuDomain {
  readonly protocol = 'user-pgtable' as const;
  bound: PgtableFormat | undefined;
  info() {
    return { pageSizes: [4096n], permittedRanges: [{ start: 0n, last: (1n << 39n) - 1n }] };
  }
  checkAttach(): string | null {
    return null;
  }
  attach(): void {}
  detach(): void {}
  map(): void {
    fail('EOPNOTSUPP', 'no map on a user-pgtable child');
  }
  unmap(): void {}
  bindPgtable(_addr: bigint, format: PgtableFormat): void {
    if (format.granule !== 4096 && format.granule !== 65536) fail('EINVAL', `format.granule ${String(format.granule)} is not offered`);
    this.bound = format;
  }
  invalidate(): void {}
  dump() {
    return { title: 'recording child', inputBase: 0n, format: 'none', root: null };
  }
  lookup(iova: bigint) {
    return { iova, steps: [], output: null };
  }
  destroy(): void {}
}

/**
 * The mock with a binding protocol (an LPAE-like stage-1 format), one vendor ALLOC field
 * (`color`, for 'map') and capabilities it caches and hands out by reference, as a driver that
 * builds them once may do.
 */
class NestingMock extends MockDriver {
  override readonly vendor: string = 'mock-nesting';
  readonly allocFormatKeys = { map: ['color'] } as const;
  readonly formatsSeen: Readonly<Record<string, unknown>>[] = [];
  private readonly caps = new Map<string, IoasidInfo>();
  constructor(ctx: MachineContext) {
    super(ctx);
  }
  override capabilities(dev: DeviceDesc): IoasidInfo {
    let c = this.caps.get(dev.name);
    if (!c) {
      c = {
        ...super.capabilities(dev),
        protocols: ['map', 'user-pgtable'],
        nesting: 'hardware',
        formats: [
          { kind: 'arm-lpae-s1', granule: 4096, ias: 39 },
          { kind: 'arm-lpae-s1', granule: 65536, ias: 39 },
        ],
      };
      this.caps.set(dev.name, c);
    }
    return c;
  }
  override createDomain(req: DomainRequest): IommuDomain {
    this.formatsSeen.push(req.format);
    if (req.protocol === 'user-pgtable') return new RecordingChild();
    return super.createDomain(req);
  }
}

registerVendor({ vendor: 'mock-nesting', description: 'test-only mock with a bindable format', create: (ctx) => new NestingMock(ctx) }, container);

function nestingMachine() {
  const m = createMachine({ vendor: 'mock-nesting', guestMemory: 16n * MiB });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd);
  const parent = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  dev.attachIoasid(child);
  return { m, fd, dev, parent, child, driver: m.driver as NestingMock };
}

describe('INVALIDATE_CACHE and MAP_DMA ranges past 2^64', () => {
  it('INVALIDATE_CACHE of iova + size past 2^64 → EOVERFLOW, as MAP/UNMAP', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const id = fd.alloc({ protocol: 'map' });
    expectErrno(() => fd.invalidateCache({ ioasid: id, iova: (1n << 64n) - 0x1000n, size: 0x2000n }), 'EOVERFLOW', /iova.*size.*2\^64/);
    expectErrno(() => fd.unmapDma({ ioasid: id, iova: (1n << 64n) - 0x1000n, size: 0x2000n }), 'EOVERFLOW');
    fd.invalidateCache({ ioasid: id, iova: (1n << 64n) - 0x2000n, size: 0x2000n }); // ends exactly at 2^64
    expectErrno(() => fd.invalidateCache({ ioasid: id, all: true, iova: 0n } as never), 'EINVAL', /iova or size/);
  });

  it('a software-nested child map whose vaddr (parent IOVA) + size passes 2^64 → EOVERFLOW, before anything is pinned', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const gpa = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(gpa);
    const child = fd.createNesting({ parent: gpa, protocol: 'map' });
    dev.attachIoasid(child);
    const before = fd.describe();
    expectErrno(() => fd.mapDma({ ioasid: child, iova: 0n, vaddr: (1n << 64n) - 0x1000n, size: 0x2000n }), 'EOVERFLOW', /vaddr \(parent IOVA\)/);
    expectErrno(() => fd.mapDma({ ioasid: gpa, iova: 0n, vaddr: (1n << 64n) - 0x1000n, size: 0x2000n }), 'EOVERFLOW', /vaddr/);
    expect(fd.describe()).toEqual(before);
  });
});

describe('ALLOC / CREATE_NESTING take only the vendor fields the driver declares', () => {
  it('unknown fields are EINVAL naming them (mock: none; no window on a vendor without windows)', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const frames = m.hostMemory.framesInUse;
    expectErrno(() => fd.alloc({ protocol: 'map', levels: 99 } as never), 'EINVAL', /field 'levels'/);
    expectErrno(() => fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 32n } } as never), 'EINVAL', /field 'window'.*takes none/);
    const p = fd.alloc({ protocol: 'map' });
    expectErrno(() => fd.createNesting({ parent: p, protocol: 'map', bogus: 1 } as never), 'EINVAL', /CREATE_NESTING.*field 'bogus'/);
    expect(fd.describe().ioasids.map((o) => o.id)).toEqual([p]);
    expect(m.hostMemory.framesInUse).toBe(frames + 1);
  });

  it('declared fields reach the driver as a deep copy the caller can no longer change', () => {
    const m = createMachine({ vendor: 'mock-nesting', guestMemory: 16n * MiB });
    const fd = m.openIoasidFd();
    const driver = m.driver as NestingMock;
    const color = { shade: 3n, tags: ['a'] };
    fd.alloc({ protocol: 'map', color } as never); // a field the mock declares (allocFormatKeys)
    color.shade = 4n;
    color.tags.push('b');
    expect(driver.formatsSeen.at(-1)).toEqual({ color: { shade: 3n, tags: ['a'] } });
    expectErrno(() => fd.alloc({ protocol: 'map', color: () => 1 } as never), 'EINVAL', /format.color must be plain data/);
    expectErrno(() => fd.alloc({ protocol: 'map', color: { get x() { return 1; } } } as never), 'EINVAL', /accessor/);
  });

  it('CREATE_NESTING with a protocol the vendor lacks is EOPNOTSUPP even when the next allocation would fail', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const p = fd.alloc({ protocol: 'map' });
    for (const protocol of ['user-pgtable', 'user-pasid-table'] as const) {
      m.injectAllocFailure(1);
      expectErrno(() => fd.createNesting({ parent: p, protocol }), 'EOPNOTSUPP', /mock driver offers no/);
      expect(m.injector.armed).toBe(true); // nothing was allocated
      m.injectAllocFailure(0);
    }
  });

  it('ALLOC fields are typed exactly: a field no loaded vendor declares (AllocFieldRegistry) does not compile', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    // @ts-expect-error 'windw' is no vendor's ALLOC field
    expectErrno(() => fd.alloc({ protocol: 'map', windw: 1 }), 'EINVAL', /field 'windw'/);
  });

  it('an unknown ALLOC field is refused before any allocation: under an armed failure it is still EINVAL', () => {
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    m.injectAllocFailure(1);
    expectErrno(() => fd.alloc({ protocol: 'map', levels: 4 } as never), 'EINVAL', /levels/);
    m.injectAllocFailure(0);
  });
});

describe('BIND formats: the key set of a format GET_INFO lists for the IOASID', () => {
  it('a missing or extra field is EINVAL naming it; the vendor still checks the values', () => {
    const { fd, child, driver } = nestingMachine();
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granule: 4096 } }), 'EINVAL', /format\.ias is missing/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granule: 4096, ias: 39, tg1: 0 } }), 'EINVAL', /format\.tg1 is not a field/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granul: 4096, ias: 39 } as never }), 'EINVAL', /format\.granul is not a field.*did you mean 'granule'\?/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'vtd-first-level', levels: 4 } }), 'EINVAL', /format\.kind 'vtd-first-level' is not among.*arm-lpae-s1/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granule: 16384, ias: 39 } }), 'EINVAL', /granule 16384/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: null as never }), 'EINVAL', /format/);
    expectErrno(() => fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granule: 4096, ias: 39 }, bogus: 1 } as never), 'EINVAL', /no field 'bogus'/);
    fd.bindPgtable({ ioasid: child, addr: 0x1000n, format: { kind: 'arm-lpae-s1', granule: 65536, ias: 39 } });
    expect(driver.formatsSeen.length).toBeGreaterThan(0);
  });

  it('describe() and GET_INFO hand out copies: mutating what the caller passed or got changes nothing', () => {
    const { m, fd, dev, child, parent } = nestingMachine();
    const format = { kind: 'arm-lpae-s1', granule: 4096, ias: 39 };
    fd.bindPgtable({ ioasid: child, addr: 0x2000n, format });
    format.ias = 48;
    format.granule = 1;
    const bound = () => fd.describe().ioasids.find((o) => o.id === child)!.bound!;
    expect(bound()).toEqual({ addr: 0x2000n, format: { kind: 'arm-lpae-s1', granule: 4096, ias: 39 } });
    bound().format.ias = 7;
    expect(bound().format.ias).toBe(39);
    const info = fd.getInfo(parent);
    info.formats[0].ias = 1;
    info.permittedRanges[0].last = 0n;
    info.protocols.length = 0;
    expect(fd.getInfo(parent).formats[0].ias).toBe(39);
    expect(fd.getInfo(parent).protocols).toEqual(['map', 'user-pgtable']);
    const di = dev.getInfo();
    di.formats.length = 0;
    di.pageSizes.push(1n);
    expect(dev.getInfo().formats).toHaveLength(2);
    expect(m.device('dev1').getInfo().pageSizes).toEqual([4096n, 2n * MiB]);
    expect(dev.getInfo().pageSizes).toEqual([4096n, 2n * MiB]);
  });
});

describe('IOASID numbers', () => {
  it('ascending, never two live IOASIDs with one number, a freed number not reused at once; ENOSPC at the limit', () => {
    expect(IOASID_LIMIT).toBe(1 << 20);
    const { m } = mockMachine();
    const fd = m.openIoasidFd();
    const a = fd.alloc({ protocol: 'map' });
    const b = fd.alloc({ protocol: 'map' });
    const c = fd.alloc({ protocol: 'map' });
    expect([a, b, c]).toEqual([1, 2, 3]);
    fd.free(b);
    expect(fd.alloc({ protocol: 'map' })).toBe(4);
    expect(fd.createNesting({ parent: a, protocol: 'map' })).toBe(5);
    // A small space (the same allocator, limit 4): ENOSPC once 3 are alive, nothing allocated.
    const small = new IoasidFd(m, { ioasidLimit: 4 });
    const ids = [small.alloc({ protocol: 'map' }), small.alloc({ protocol: 'map' }), small.alloc({ protocol: 'map' })];
    expect(ids).toEqual([1, 2, 3]);
    const frames = m.hostMemory.framesInUse;
    expectErrno(() => small.alloc({ protocol: 'map' }), 'ENOSPC', /all 3 IOASID numbers/);
    expectErrno(() => small.createNesting({ parent: 1, protocol: 'map' }), 'ENOSPC');
    expect(m.hostMemory.framesInUse).toBe(frames);
    small.free(2);
    small.free(1);
    expect(small.alloc({ protocol: 'map' })).toBe(2); // oldest freed first
    expect(small.alloc({ protocol: 'map' })).toBe(1);
    expect(new Set(small.ioasidIds).size).toBe(3);
    expect(() => new IoasidFd(m, { ioasidLimit: 1 })).toThrow(IoasidError);
  });
});
