import { createMachine } from '@ioasid/core';
import '@ioasid/intel-vtd'; import '@ioasid/arm-smmuv3'; import '@ioasid/power-tce';
import { allocSpace } from './dist/bench/space.js';
const vendor = process.argv[2]; const mode = process.argv[3] ?? 'cold';
const GiB = 1n << 30n;
const m = createMachine({ vendor, devices: [{ name: 'dev0' }], hostMemory: 128n << 30n });
const fd = m.openIoasidFd(); const dev = m.device('dev0'); dev.bindIoasidFd(fd, { label: 'b' });
const size = GiB;
const sp = allocSpace(fd, dev, size, 4096n);
let va = m.vmm.mmap(size);
const t0 = performance.now();
let tot = 0;
for (let i = 0; i < 20; i++) {
  if (mode === 'cold') va = m.vmm.mmap(size);
  const t = performance.now();
  fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: va, size });
  tot += performance.now() - t;
  fd.unmapDma({ ioasid: sp.ioasid, iova: sp.base, size });
  if (mode === 'cold') m.vmm.munmap(va, size);
}
console.log(vendor, mode, (tot / 20 / 262144 * 1e6).toFixed(1), 'ns/page');
