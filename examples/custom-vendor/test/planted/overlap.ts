import type { MachineContext } from '@ioasid/core';
import { FlatIommuDriver } from '@ioasid-example/flat-iommu';
import { plant } from './register.js';

/** Kernel allocations after the VMM has two ordinary mappings before the allocator "runs into" them. */
const ARM_AFTER = 8;

/**
 * Bug 2 of issue 15: the kernel's frame allocator runs into frames that back VMM memory. Once
 * the VMM has mapped (and touched) ordinary memory, kernel allocations hand out those frames,
 * zeroed — another fd's mapped buffer among them.
 */
function overlapping(ctx: MachineContext): FlatIommuDriver {
  const driver = new FlatIommuDriver(ctx);
  const vmm = ctx.vmm;
  const mem = ctx.hostMemory;
  const regions: bigint[] = [];
  const mmap = vmm.mmap.bind(vmm);
  vmm.mmap = (size, options) => {
    const va = mmap(size, options);
    if (!options?.hugePages) regions.push(va);
    return va;
  };
  const handed = new Set<number>();
  let calls = 0;
  const steal = (): number | undefined => {
    if (regions.length < 2 || ++calls <= ARM_AFTER) return undefined;
    for (const va of regions) {
      let r;
      try {
        r = vmm.region(va, 4096n);
      } catch {
        continue; // unmapped since
      }
      for (let p = 0; p < Math.min(r.pages, 16); p++) {
        const f = r.frameOf(p);
        if (f >= 0 && !handed.has(f)) {
          handed.add(f);
          mem.write(f * 4096, new Uint8Array(4096));
          return f;
        }
      }
    }
    return undefined;
  };
  const one = mem.allocFrame.bind(mem);
  const many = mem.allocFrames.bind(mem);
  mem.allocFrame = () => steal() ?? one();
  mem.allocFrames = (count: number, align?: number) => steal() ?? many(count, align);
  return driver;
}

export const overlappingVendor = plant('flat-planted-overlap', 'flat IOMMU whose kernel frame allocator hands out frames backing VMM memory', overlapping);
