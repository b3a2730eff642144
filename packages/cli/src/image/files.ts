import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { AllocInjector, HOST_PHYS_BITS, HostMemory, MIN_HOST_MEMORY } from '@ioasid/core';
import { UsageError } from '../errors.js';

const CHUNK = 2 << 20;

/**
 * Writes host memory as a raw image file: byte `pa` of memory at offset `pa` of the file. Only the
 * chunks ever written are written; the rest are holes (a sparse file), which read as zeros.
 */
export function writeImage(mem: HostMemory, file: string): { bytes: number; chunks: number } {
  const fd = openSync(file, 'w');
  let end = 0;
  // 2 MiB chunks of the file that hold anything (memory is stored in smaller pieces).
  const chunks = new Set<number>();
  try {
    for (const c of mem.image()) {
      writeSync(fd, c.bytes, 0, c.bytes.length, c.pa);
      end = Math.max(end, c.pa + c.bytes.length);
      chunks.add(Math.floor(c.pa / CHUNK));
    }
    ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
  return { bytes: end, chunks: chunks.size };
}

/**
 * Host memory holding an image file at `base`: read 2 MiB at a time, all-zero pages skipped, so a
 * sparse file costs only what it holds.
 */
export function readImage(file: string, base: bigint, hostMemory?: bigint): HostMemory {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new UsageError(`--image ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const length = fstatSync(fd).size;
    const end = base + BigInt(length);
    let size = ((end + BigInt(CHUNK) - 1n) / BigInt(CHUNK)) * BigInt(CHUNK);
    if (size < MIN_HOST_MEMORY) size = MIN_HOST_MEMORY;
    // The machine the image came from may have had more memory than the file holds (holes at the end).
    if (hostMemory !== undefined && hostMemory > size && hostMemory % BigInt(CHUNK) === 0n) size = hostMemory;
    if (size > 1n << BigInt(HOST_PHYS_BITS)) throw new UsageError(`--image ${file}: ${length} bytes at 0x${base.toString(16)} end beyond ${HOST_PHYS_BITS}-bit host memory`);
    const mem = new HostMemory(new AllocInjector(), size);
    const buf = new Uint8Array(CHUNK);
    for (let off = 0; off < length; off += CHUNK) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK, length - off), off);
      for (let p = 0; p < n; p += 4096) {
        const page = buf.subarray(p, Math.min(p + 4096, n));
        if (page.some((b) => b !== 0)) mem.write(Number(base) + off + p, page);
      }
    }
    return mem;
  } finally {
    closeSync(fd);
  }
}

/** A registers file: `{ "NAME": "0x…" | number, … }`, or `ioasid snapshot`'s `{ vendor, hostMemory, registers }`. */
export function readRegisters(file: string): { vendor?: string; hostMemory?: bigint; registers: Record<string, bigint> } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = e instanceof SyntaxError ? `not JSON (${e.message})` : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    throw new UsageError(`--regs ${file}: ${why}`);
  }
  const obj = raw as { vendor?: unknown; hostMemory?: unknown; registers?: unknown };
  const map = obj && typeof obj === 'object' && obj.registers && typeof obj.registers === 'object' ? obj.registers : raw;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new UsageError(`--regs ${file}: expected an object of register names and values`);
  const registers: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) registers[k] = BigInt(v);
    else if (typeof v === 'string' && /^(0x[0-9a-f_]+|\d+)$/i.test(v.trim())) registers[k] = BigInt(v.trim().replace(/_/g, ''));
    else throw new UsageError(`--regs ${file}: register ${k}: expected a non-negative number or a "0x…" string (got ${JSON.stringify(v)})`);
    if (registers[k] >= 1n << 64n) throw new UsageError(`--regs ${file}: register ${k} is wider than 64 bits`);
  }
  let hostMemory: bigint | undefined;
  if (map !== raw && obj.hostMemory !== undefined) {
    if (typeof obj.hostMemory !== 'string' || !/^0x[0-9a-f]+$/i.test(obj.hostMemory)) throw new UsageError(`--regs ${file}: hostMemory must be a "0x…" size`);
    hostMemory = BigInt(obj.hostMemory);
  }
  return { ...(typeof obj?.vendor === 'string' ? { vendor: obj.vendor } : {}), ...(hostMemory !== undefined ? { hostMemory } : {}), registers };
}
