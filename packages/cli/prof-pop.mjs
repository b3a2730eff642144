import { createMachine } from '@ioasid/core';
import '@ioasid/intel-vtd';
const GiB = 1n << 30n;
const m = createMachine({ vendor: 'intel-vtd', devices: [{ name: 'dev0' }], hostMemory: 128n << 30n });
for (let r = 0; r < 3; r++) {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const va = m.vmm.mmap(GiB);
    const reg = m.vmm.region(va, GiB);
    const t = performance.now();
    reg.populate(0, 262144);
    times.push((performance.now() - t) / 262144 * 1e6);
    const t2 = performance.now();
    m.vmm.munmap(va, GiB);
    times.push('/' + ((performance.now() - t2) / 262144 * 1e6).toFixed(1));
  }
  console.log(times.map(x => typeof x === 'number' ? x.toFixed(1) : x).join(' '));
}
