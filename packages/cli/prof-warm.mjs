import { createMachine } from '@ioasid/core';
import '@ioasid/intel-vtd'; import '@ioasid/arm-smmuv3'; import '@ioasid/power-tce';
import { allocSpace } from './dist/bench/space.js';
const vendor = process.argv[2]; const what = process.argv[3] ?? 'map';
const GiB = 1n << 30n;
const m = createMachine({ vendor, devices: [{ name: 'dev0' }], hostMemory: 128n << 30n });
const fd = m.openIoasidFd(); const dev = m.device('dev0'); dev.bindIoasidFd(fd, { label: 'b' });
const size = GiB;
const sp = allocSpace(fd, dev, size, 4096n);
let va = m.vmm.mmap(size);
let tm = 0, tu = 0;
const N = 60;
for (let i = 0; i < N; i++) {
  let t = performance.now();
  fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: va, size });
  tm += performance.now() - t; t = performance.now();
  fd.unmapDma({ ioasid: sp.ioasid, iova: sp.base, size });
  tu += performance.now() - t;
}
console.log(vendor, 'map', (tm / N / 262144 * 1e6).toFixed(1), 'unmap', (tu / N / 262144 * 1e6).toFixed(1), 'ns/page');
