import { describe, expect, it } from 'vitest';
import { AllocInjector, IdAllocator, PasidAllocator } from '../src/index.js';
import { expectErrno } from './helpers.js';

describe('IdAllocator (issue 15 finding 8: O(1) ID spaces with a limit)', () => {
  it('hands out ascending IDs, then the oldest freed one, and says ENOSPC when full', () => {
    const ids = new IdAllocator(1, 5, 'ASID');
    expect([ids.alloc(), ids.alloc(), ids.alloc(), ids.alloc()]).toEqual([1, 2, 3, 4]);
    expectErrno(() => ids.alloc(), 'ENOSPC', /all 4 ASIDs are in use/);
    ids.free(3);
    ids.free(1);
    expect(ids.inUse).toBe(2);
    expect(ids.alloc()).toBe(3);
    expect(ids.alloc()).toBe(1);
    expect(ids.has(1)).toBe(true);
    ids.free(1);
    ids.free(1); // a double free changes nothing
    expect(ids.inUse).toBe(3);
    expect(ids.alloc()).toBe(1);
    expectErrno(() => ids.alloc(), 'ENOSPC');
  });

  it('fills and drains a 2^20 space, oldest freed first', () => {
    const ids = new IdAllocator(1, 1 << 20, 'host PASID');
    let wrong = 0;
    for (let i = 1; i < 1 << 20; i++) if (ids.alloc() !== i) wrong++;
    expectErrno(() => ids.alloc(), 'ENOSPC');
    for (let i = 1; i < 1 << 20; i += 2) ids.free(i);
    for (let i = 1; i < 1 << 20; i += 2) if (ids.alloc() !== i) wrong++;
    expect(wrong).toBe(0);
    expect(ids.inUse).toBe((1 << 20) - 1);
  });

  it('counts an allocation for fault injection and changes nothing when it fails', () => {
    const inj = new AllocInjector();
    const pasids = new PasidAllocator(inj);
    inj.failNth(1);
    expectErrno(() => pasids.alloc(), 'ENOMEM', /injected/);
    expect(pasids.inUse).toBe(0);
    expect(pasids.alloc()).toBe(1);
  });
});
