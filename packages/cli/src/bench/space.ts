import type { AllocArgs, Device, IoasidFd, IovaRange } from '@ioasid/core';

/** An IOASID with room for `bytes` of `pageSize` pages, and where to map them. */
export interface Space {
  ioasid: number;
  base: bigint;
}

const GiB = 1n << 30n;

function fit(ranges: IovaRange[], bytes: bigint, align: bigint): bigint | undefined {
  for (const r of ranges) {
    const start = ((r.start + align - 1n) / align) * align;
    if (start + bytes - 1n <= r.last) return start;
  }
  return undefined;
}

/**
 * Allocates and attaches an address space big enough for the benchmark. Vendors with DMA windows
 * (POWER) get a dynamic DMA window of the right page size when the default space is too small.
 */
export function allocSpace(fd: IoasidFd, dev: Device, bytes: bigint, pageSize: bigint): Space {
  const align = pageSize > GiB ? pageSize : bytes >= GiB ? GiB : pageSize;
  const plain = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(plain);
  const at = fit(fd.getInfo(plain).permittedRanges, bytes, align);
  if (at !== undefined && fd.getInfo(plain).pageSizes.includes(pageSize)) return { ioasid: plain, base: at };
  const ranges = fd.getInfo(plain).permittedRanges;
  dev.detachIoasid(plain);
  fd.free(plain);
  let size = 1n;
  while (size < bytes) size <<= 1n;
  // A POWER dynamic DMA window (the ALLOC field power-tce declares in AllocFieldRegistry).
  let win: number;
  try {
    win = fd.alloc({ protocol: 'map', window: { pageSize, size } } as AllocArgs);
  } catch {
    const shown = ranges.map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(', ');
    throw new Error(`no permitted range holds ${bytes >> 20n} MiB of ${pageSize >> 10n} KiB pages (ranges ${shown}) and the vendor has no DMA windows`);
  }
  dev.attachIoasid(win);
  const base = fit(fd.getInfo(win).permittedRanges, bytes, pageSize);
  if (base === undefined) throw new Error(`no permitted range of ${bytes} bytes with ${pageSize}-byte pages`);
  return { ioasid: win, base };
}
