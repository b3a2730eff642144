import { createMachine } from '@ioasid/core';
import '@ioasid/intel-vtd'; import '@ioasid/arm-smmuv3'; import '@ioasid/power-tce';
import { allocSpace } from './dist/bench/space.js';
const vendor = process.argv[2]; const mode = process.argv[3] ?? 'hit';
const m = createMachine({ vendor, devices: [{ name: 'dev0' }], hostMemory: 128n << 30n });
const fd = m.openIoasidFd(); const dev = m.device('dev0'); dev.bindIoasidFd(fd, { label: 'b' });
const size = 64n << 20n;
const sp = allocSpace(fd, dev, size, 4096n);
fd.mapDma({ ioasid: sp.ioasid, iova: sp.base, vaddr: m.vmm.mmap(size), size });
const base = Number(sp.base >> 12n);
const frames = []; let x = 7; for (let i = 0; i < 16384; i++) { x = (x * 1103515245 + 12345) >>> 0; frames.push(base + (x % 16384)); }
const req = { rid: dev.rid, pasid: -1, iovaFrame: 0, write: false, privileged: false };

let acc = 0, tot = 0, n = 0;
for (let r = 0; r < 400; r++) {
  if (mode === 'walk') fd.invalidateCache({ ioasid: sp.ioasid, all: true });
  const t = performance.now();
  for (const f of frames) { req.iovaFrame = f; acc ^= m.driver.translate(req); }
  if (r > 20) { tot += performance.now() - t; n += frames.length; }
}
console.log(vendor, mode, (tot / n * 1e6).toFixed(1), 'ns/op', acc);
