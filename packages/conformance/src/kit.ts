import {
  DmaFault,
  IoasidError,
  createMachine,
  findVendor,
  inputBits,
  type Device,
  type DeviceOptions,
  type ErrnoName,
  type GuestPageTable,
  type IoasidFd,
  type IoasidInfo,
  type IovaRange,
  type Machine,
  type MachineOptions,
  type PgtableFormat,
  type PtFormat,
} from '@ioasid/core';
import type { Caps, KitEnv } from './types.js';
import { activeJournal, expectedOfCall, journalMark, unstatedCheck, type Expectation } from './replay/journal.js';
import { recordGuestTable, recordMachine } from './replay/record-machine.js';

export const KiB = 1n << 10n;
export const MiB = 1n << 20n;
export const PAGE = 4096n;

/** Guest RAM of kit machines unless the user's machine options say otherwise (small keeps maps cheap). */
export const KIT_GUEST_MEMORY = 32n * MiB;
/** Default property run count (fast-check numRuns). */
export const DEFAULT_RUNS = 25;

/**
 * The devices of every kit machine. Names are part of the kit's contract: a vendor whose
 * machine needs other device options can pass them through `machineOptions`, except `devices`.
 */
export const KIT_DEVICES: DeviceOptions[] = [
  { name: 'dev0' },
  { name: 'dev1' },
  { name: 'pri0', pri: true, ats: true },
  { name: 'grpA', group: 0x7001 },
  { name: 'grpB', group: 0x7001 },
  { name: 'pf0' },
  { name: 'md0', kind: 'mdev', parent: 'pf0' },
  { name: 'wq0', kind: 'mdev', parent: 'pf0', enqcmd: true },
];

/** A case failed: the message says what the vendor did against what the uAPI requires. */
export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

/** Thrown by a case's unsupported path once the rejection was checked. */
export class Unsupported extends Error {
  constructor(readonly reason: string) {
    super(`unsupported: ${reason}`);
    this.name = 'Unsupported';
  }
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

export function fmtValue(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x));
}

/**
 * A check; `replay` says what it expected of the last call, so that a failing property's
 * scenario can state it on that call's step.
 */
export function check(cond: unknown, message: string | (() => string), replay?: Expectation): asserts cond {
  if (cond) return;
  const text = typeof message === 'string' ? message : message();
  if (replay) expectedOfCall(replay);
  else unstatedCheck(text);
  throw new ConformanceFailure(text);
}

export function isIoasidError(e: unknown): e is IoasidError {
  return e instanceof IoasidError || (e instanceof Error && e.name === 'IoasidError' && typeof (e as IoasidError).errno === 'string');
}

export function isDmaFault(e: unknown): e is DmaFault {
  return e instanceof DmaFault || (e instanceof Error && e.name === 'DmaFault' && typeof (e as DmaFault).record === 'object');
}

function describeError(e: unknown): string {
  if (isIoasidError(e)) return `IoasidError ${e.message}`;
  if (isDmaFault(e)) return `DmaFault ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Runs `fn`, which must fail with exactly `errno`. */
export function expectErrno(fn: () => unknown, errno: ErrnoName, what: string): IoasidError {
  const mark = journalMark();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!isIoasidError(err) || err.errno !== errno) expectedOfCall({ errno }, mark);
  if (err === undefined) throw new ConformanceFailure(`${what}: expected ${errno}, but the command succeeded`);
  if (!isIoasidError(err)) throw new ConformanceFailure(`${what}: expected ${errno}, got ${describeError(err)}`);
  if (err.errno !== errno) throw new ConformanceFailure(`${what}: expected ${errno}, got ${err.errno} (${err.message})`);
  return err;
}

/** Runs `fn`, which must succeed; a failure is reported with `what`. */
export function expectOk<T>(fn: () => T, what: string): T {
  const mark = journalMark();
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConformanceFailure || e instanceof Unsupported) throw e;
    expectedOfCall({ ok: true }, mark);
    const f = new ConformanceFailure(`${what}: ${describeError(e)}`);
    if (e instanceof Error && e.stack) f.stack = `${f.name}: ${f.message}\n  caused by ${e.stack}`;
    throw f;
  }
}

/**
 * After a DMA error some IOMMUs stop the device until it is reset (POWER EEH freezes the PE);
 * the kit recovers the way a VMM does, with a device reset (a no-op for other vendors).
 */
export function recover(dev: Device): void {
  expectOk(() => dev.reset(), `reset ${dev.name} after a DMA fault`);
}

/** A DMA of `dev` the IOMMU must block: it throws DmaFault (and nothing else). */
export function expectDmaFault(dev: Device, fn: () => unknown, what: string): DmaFault {
  const mark = journalMark();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (isDmaFault(err)) recover(dev);
  if (err === undefined) expectedOfCall({ fault: true }, mark);
  if (err === undefined) throw new ConformanceFailure(`${what}: expected the IOMMU to block the DMA (DmaFault), but it went through`);
  if (!isDmaFault(err)) throw new ConformanceFailure(`${what}: expected DmaFault, got ${describeError(err)}`);
  const r = err.record;
  check(r && typeof r.code === 'number' && typeof r.name === 'string' && typeof r.iova === 'bigint' && typeof r.rid === 'number',
    () => `${what}: the DmaFault record lacks rid/iova/code/name: ${fmtValue(r)}`);
  return err;
}

/** Outcome of a DMA of `dev` that may legitimately be blocked. */
export function tryDma<T>(dev: Device, fn: () => T, what: string): { ok: true; value: T } | { ok: false; fault: DmaFault } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (isDmaFault(e)) {
      recover(dev);
      return { ok: false, fault: e };
    }
    throw new ConformanceFailure(`${what}: a DMA may only succeed or throw DmaFault, but it threw ${describeError(e)}`);
  }
}

export function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length === expected.length && actual.every((b, i) => b === expected[i])) return;
  expectedOfCall({ bytes: expected });
  const show = (a: Uint8Array) => [...a.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ConformanceFailure(`${what}: got [${show(actual)}${actual.length > 16 ? ' …' : ''}], expected [${show(expected)}${expected.length > 16 ? ' …' : ''}]`);
}

/** Deterministic, seed-dependent bytes (no two seeds share a prefix of 8). */
export function pattern(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 0x9e3779b1 + 0x7f4a7c15) >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  if (length >= 4) {
    out[0] = 0xc5;
    out[1] = seed & 0xff;
    out[2] = (seed >>> 8) & 0xff;
    out[3] = (seed >>> 16) & 0xff;
  }
  return out;
}

// ---- machines and sessions ------------------------------------------------------------------

export function newMachine(env: KitEnv, extra: Partial<MachineOptions> = {}): Machine {
  return kitMachine(env, KIT_DEVICES, extra);
}

/** A machine of `devices`: the vendor's defaults, then the user's machine options, then `extra`. */
export function kitMachine(env: KitEnv, devices: DeviceOptions[], extra: Partial<MachineOptions> = {}): Machine {
  const container = env.machineOptions.container as MachineOptions['container'];
  const reg = findVendor(env.vendor, container);
  const options = {
    guestMemory: KIT_GUEST_MEMORY,
    ...(reg.defaultMachine ?? {}),
    ...env.machineOptions,
    ...extra,
    vendor: env.vendor,
    devices,
  } as MachineOptions;
  const m = createMachine(options);
  const j = activeJournal();
  if (j) {
    if (j.machine) j.refuse('the run makes a second machine (a scenario has one)');
    else recordMachine(j, m, options as unknown as Record<string, unknown>);
  }
  return m;
}

export function label(name: string): string {
  return `${name}@kit`;
}

/** Opens an fd and binds the named devices to it (labels `<name>@kit`). */
export function openFd(m: Machine, ...names: string[]): { fd: IoasidFd; devs: Device[] } {
  const fd = expectOk(() => m.openIoasidFd(), 'open the IOASID fd');
  const devs = names.map((n) => {
    const d = m.device(n);
    expectOk(() => d.bindIoasidFd(fd, { label: label(n) }), `BIND_IOASID_FD(${n})`);
    return d;
  });
  return { fd, devs };
}

/** Tries `fn` on a scratch machine: true if it worked, else what refused it ("EINVAL: …"). */
function trial(fn: () => void): true | string {
  try {
    fn();
    return true;
  } catch (e) {
    // An IoasidError's message starts with its errno already ("EINVAL: …").
    return isIoasidError(e) ? (e.message.startsWith(`${e.errno}:`) ? e.message : `${e.errno}: ${e.message}`) : `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

/**
 * GET_INFO of the standard devices on a fresh machine, read the way a VMM does: after
 * BIND_IOASID_FD and before any IOASID exists (some vendors set a device up at bind).
 * Also records whether a kernel-managed IOASID takes a PASID-granular attach (pdev vPASID, mdev):
 * the uAPI lets a vendor refuse that with EINVAL (incompatible format: use another IOASID).
 */
export function probeCaps(env: KitEnv): Caps {
  const m = newMachine(env);
  const fd = m.openIoasidFd();
  // Every device but the parents of mdevs: a parent stays with the host driver while its mdevs are bound.
  for (const d of m.deviceList) if (!m.deviceList.some((x) => x.desc.parent === d.name)) d.bindIoasidFd(fd, { label: label(d.name) });
  const soft = (name: string) => {
    try {
      return m.device(name).getInfo();
    } catch {
      return undefined;
    }
  };
  const dev = m.device('dev0').getInfo();
  const md = soft('md0');
  const pasidMapAttach =
    dev.pasidBits === 0
      ? 'no PASID (GET_INFO pasidBits 0)'
      : trial(() => {
          const a = fd.alloc({ protocol: 'map' });
          m.device('dev0').attachIoasid(a, { userPasid: 1 });
        });
  const mdevAttach =
    !md || md.pasidBits === 0
      ? 'no PASID for the mdev (GET_INFO pasidBits 0)'
      : trial(() => {
          const a = fd.alloc({ protocol: 'map' });
          m.device('md0').attachIoasid(a);
        });
  const pasidBoundAttach =
    dev.pasidBits === 0
      ? 'no PASID (GET_INFO pasidBits 0)'
      : !supportsUserPgtable(dev)
        ? `no 'user-pgtable' protocol in GET_INFO (nesting: ${dev.nesting})`
        : trial(() => {
            const parent = fd.alloc({ protocol: 'map' });
            m.device('dev1').attachIoasid(parent);
            const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
            m.device('dev1').attachIoasid(child, { userPasid: 1 });
          });
  const caps: Caps = { dev, pri: m.device('pri0').getInfo(), md, wq: soft('wq0'), guest: m.driver.guest, pasidMapAttach, mdevAttach, pasidBoundAttach };
  fd.close();
  return caps;
}

/**
 * The vPASID a case attaches a 'user-pgtable' child with, when it wants one: only where the
 * vendor takes a PASID attach of a bound table (caps.pasidBoundAttach), else the RID.
 */
export function boundPasid(caps: Caps, info: IoasidInfo, preferred: number): number | undefined {
  return caps.pasidBoundAttach === true && info.pasidBits > 0 ? pickPasid(info.pasidBits, preferred) : undefined;
}

/** The refusal of a PASID-granular attach must be EINVAL (incompatible format); anything else fails. */
export function checkRefusal(result: true | string, what: string): void {
  if (result !== true) check(result.startsWith('EINVAL') || result.startsWith('no PASID'), () => `${what} must succeed or fail with EINVAL (incompatible format), but: ${result}`);
}

/** Guest RAM for machines that build guest PASID tables (a linear SMMU CD table at the listed maximum is 64 MiB). */
export const PASID_TABLE_GUEST_MEMORY = 256n * MiB;

/** A kit machine with room in guest RAM for the largest PASID table GET_INFO may list. */
export function newPasidTableMachine(env: KitEnv): Machine {
  const asked = env.machineOptions.guestMemory;
  const size = typeof asked === 'bigint' && asked > PASID_TABLE_GUEST_MEMORY ? asked : PASID_TABLE_GUEST_MEMORY;
  return newMachine(env, { guestMemory: size });
}

/** The smallest page size of an IOASID (MAP_DMA granule). */
export function granule(info: IoasidInfo, what: string): bigint {
  const g = info.pageSizes[0];
  check(typeof g === 'bigint' && g >= PAGE && (g & (g - 1n)) === 0n, () => `${what}: GET_INFO pageSizes[0] must be a power of two ≥ 4 KiB (got ${fmtValue(info.pageSizes)})`);
  return g;
}

export function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}

/** First `align`-aligned IOVA at or above `from` where [iova, iova+size) fits one permitted range. */
export function findSpot(ranges: readonly IovaRange[], size: bigint, align: bigint, from = 0n): bigint | undefined {
  for (const r of ranges) {
    const s = alignUp(r.start > from ? r.start : from, align);
    if (s + size - 1n <= r.last && s >= r.start) return s;
  }
  return undefined;
}

export function spot(ranges: readonly IovaRange[], size: bigint, align: bigint, what: string, from = 0n): bigint {
  const s = findSpot(ranges, size, align, from);
  check(s !== undefined, () => `${what}: no permitted range holds ${hex(size)} bytes aligned to ${hex(align)} (ranges ${fmtValue(ranges)})`);
  return s;
}

/**
 * VMM memory of `size` bytes whose vaddr is aligned to the granule `g`. Ordinary (scattered 4 KiB
 * frames) when g is 4 KiB, else 2 MiB huge pages so that every IO page is physically contiguous.
 */
export function vmmBuffer(m: Machine, size: bigint, g: bigint): bigint {
  if (g === PAGE) return m.vmm.mmap(alignUp(size, PAGE));
  const unit = g > 2n * MiB ? 1n << 30n : 2n * MiB;
  return m.vmm.mmap(alignUp(size, unit), { hugePages: unit === 2n * MiB ? '2M' : '1G' });
}

/** Maps the pieces of [gpaStart, gpaEnd) that the permitted ranges allow at IOVA = base + GPA. */
export function mapGuestRange(m: Machine, fd: IoasidFd, ioasid: number, info: IoasidInfo, base: bigint, gpaStart: bigint, gpaEnd: bigint): void {
  const g = granule(info, 'GPA space');
  for (const r of info.permittedRanges) {
    const s = alignUp((r.start > base + gpaStart ? r.start : base + gpaStart) - base, g);
    const lastGpa = r.last - base;
    const e = ((lastGpa + 1n < gpaEnd ? lastGpa + 1n : gpaEnd) / g) * g;
    if (r.last < base || s >= e) continue;
    expectOk(() => fd.mapDma({ ioasid, iova: base + s, vaddr: m.guest.vaddr + s, size: e - s, read: true, write: true }), `MAP_DMA of guest RAM ${hex(s)}..${hex(e)} at IOVA ${hex(base + s)}`);
  }
}

/**
 * The VMM's GPA address space for nesting: a 'map' IOASID with `devs` attached and guest RAM
 * mapped at IOVA = GPA (what a hardware walker through the parent needs), minus `hole`.
 */
export function gpaSpace(m: Machine, fd: IoasidFd, devs: Device[], hole?: { start: bigint; end: bigint }): { parent: number; info: IoasidInfo } {
  const parent = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC the GPA space');
  for (const d of devs) expectOk(() => d.attachIoasid(parent), `ATTACH ${d.name} to the GPA space`);
  const info = fd.getInfo(parent);
  const size = m.guest.size;
  check(info.permittedRanges.some((r) => r.start === 0n), () => `the GPA space must be mappable at IOVA = GPA from 0 (permitted ranges ${fmtValue(info.permittedRanges)})`);
  if (hole) {
    mapGuestRange(m, fd, parent, info, 0n, 0n, hole.start);
    mapGuestRange(m, fd, parent, info, 0n, hole.end, size);
  } else {
    mapGuestRange(m, fd, parent, info, 0n, 0n, size);
  }
  return { parent, info };
}

export interface GuestTable {
  pt: GuestPageTable;
  fmt: PtFormat;
  /** The format's smallest page. */
  page: bigint;
  /** Input bytes the table translates. */
  span: bigint;
  format: PgtableFormat;
}

/** A guest page table of `format` (a GET_INFO formats entry), built by the vendor's guest helper. */
export function guestTable(m: Machine, format: PgtableFormat): GuestTable {
  const helpers = m.driver.guest;
  check(helpers, () => `the vendor lists bindable formats but machine.driver.guest is missing (the guest-kernel helpers)`);
  const fmt = expectOk(() => helpers.pageTableFormat(format), `guest.pageTableFormat(${fmtValue(format)})`);
  const j = activeJournal();
  const make = () => m.guest.createPageTable(fmt);
  const pt = expectOk(() => (j ? recordGuestTable(j, format, make) : make()), `guest.createPageTable(${fmt.name})`);
  return { pt, fmt, page: 1n << BigInt(fmt.pageShift), span: 1n << BigInt(inputBits(fmt)), format };
}

/** Guest pages of `bytes`, aligned to `align` (guest-kernel allocation, from the top of RAM). */
export function guestPages(m: Machine, bytes: bigint, align = PAGE): bigint {
  const n = Number(alignUp(bytes, PAGE) / PAGE);
  const a = Number(align / PAGE);
  return BigInt(m.guest.allocFrames(n, Math.max(1, a))) * PAGE;
}

/** Allocates a guest page for a guest table, fills it with `pattern(seed)`. */
export function guestData(m: Machine, page: bigint, seed: number): { gpa: bigint; bytes: Uint8Array } {
  const gpa = guestPages(m, page, page);
  const bytes = pattern(seed, 64);
  m.guest.write(gpa, bytes);
  return { gpa, bytes };
}

/** Closes the fd, reporting a failure of close itself. */
export function closeFd(fd: IoasidFd): void {
  expectOk(() => fd.close(), 'close the IOASID fd');
}

/** The first format of `info.formats` (checked to exist since the vendor claims user-pgtable). */
export function firstFormat(info: IoasidInfo): PgtableFormat {
  const f = info.formats[0];
  check(f && typeof f.kind === 'string', () => `GET_INFO claims 'user-pgtable' but lists no bindable format: ${fmtValue(info.formats)}`);
  return f;
}

export function supportsUserPgtable(info: IoasidInfo): boolean {
  return info.protocols.includes('user-pgtable');
}

/** Reason a case that binds guest page tables cannot run, or null. */
export function needsUserPgtable(info: IoasidInfo): string | null {
  return supportsUserPgtable(info) ? null : `GET_INFO lists no 'user-pgtable' protocol (nesting: ${info.nesting})`;
}

/** The rejection an unsupported binding case checks: CREATE_NESTING of `protocol` → EOPNOTSUPP. */
export function rejectsNesting(env: KitEnv, protocol: 'user-pgtable' | 'user-pasid-table'): void {
  const m = newMachine(env);
  const { fd, devs } = openFd(m, 'dev0');
  const parent = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
  expectOk(() => devs[0].attachIoasid(parent), 'ATTACH dev0');
  expectErrno(() => fd.createNesting({ parent, protocol }), 'EOPNOTSUPP', `CREATE_NESTING(${protocol}) on a vendor that does not claim it`);
  closeFd(fd);
}

/** A random-ish but reproducible vPASID below the device's width. */
export function pickPasid(bits: number, preferred: number): number {
  const max = 2 ** Math.min(bits, 20) - 1;
  return Math.max(1, Math.min(preferred, max));
}
