/**
 * The kit's nested-reach check reads a traced walk: every structure fetched by guest-physical
 * address (a read a stage-2 sub-walk located) and the byte the DMA lands on must be guest RAM.
 * Here the traces are built by hand around a real machine's guest RAM, so each way to break the
 * rule is seen to fail with a message naming it; the kit's 5.4–5.7 cases run it on real walks.
 */
import { describe, expect, it } from 'vitest';
// The test-only mock IOMMU of core's own suite (registers itself as 'mock'): only its guest RAM is used.
import '../../core/test/mock-driver.js';
import { createMachine, type Device, type DomainDump, type DumpEntry, type IoasidFd, type Machine, type TraceRead, type WalkTrace } from '@ioasid/core';
import { ConformanceFailure } from '../src/kit.js';
import { checkNestedReach, checkNoKernelLeaf } from '../src/reach.js';

function machine(): { m: Machine; ramFrame: number; kernelFrame: number } {
  const m = createMachine({ vendor: 'mock', guestMemory: 16n << 20n });
  const gpa = m.guest.allocPages(4096n);
  m.guest.write(gpa, new Uint8Array([1]));
  const ramFrame = m.guest.hostFrame(Number(gpa >> 12n));
  const kernelFrame = m.hostMemory.allocFrames(1, 1);
  return { m, ramFrame, kernelFrame };
}

const read = (structure: string, frame: number, via: boolean): TraceRead => ({
  structure,
  stage: 'first-stage',
  addr: BigInt(frame) * 4096n + 8n,
  raw: [0n],
  fields: {},
  ...(via ? { via: [{ structure: 'SL PTE', stage: 'second-stage', addr: 0x1000n, raw: [0n], fields: {} }] } : {}),
});

const device = (trace: WalkTrace | undefined) => ({ traceDma: () => trace }) as unknown as Device;

describe('checkNestedReach', () => {
  it('passes when every fetch by GPA and the output are guest RAM', () => {
    const { m, ramFrame } = machine();
    const trace: WalkTrace = { events: [read('FL PTE', ramFrame, true)], output: BigInt(ramFrame) * 4096n };
    expect(() => checkNestedReach(m, device(trace), 0x3000n, {}, 'ok')).not.toThrow();
  });

  it('fails on a structure fetched through stage 2 from a kernel frame, naming it and its host address', () => {
    const { m, ramFrame, kernelFrame } = machine();
    const trace: WalkTrace = { events: [read('CD', kernelFrame, true), read('FL PTE', ramFrame, true)], output: BigInt(ramFrame) * 4096n };
    expect(() => checkNestedReach(m, device(trace), 0x3000n, {}, 'vPASID 5')).toThrow(ConformanceFailure);
    expect(() => checkNestedReach(m, device(trace), 0x3000n, {}, 'vPASID 5')).toThrow(
      `vPASID 5: the first-stage CD the hardware fetched through stage 2 lies at host 0x${(BigInt(kernelFrame) * 4096n + 8n).toString(16)}, outside guest RAM`,
    );
  });

  it('a kernel frame read by host address (no stage-2 sub-walk) is the kernel reading its own tables: allowed', () => {
    const { m, ramFrame, kernelFrame } = machine();
    const trace: WalkTrace = { events: [read('PASID entry', kernelFrame, false), read('FL PTE', ramFrame, true)], output: BigInt(ramFrame) * 4096n };
    expect(() => checkNestedReach(m, device(trace), 0x3000n, {}, 'ok')).not.toThrow();
  });

  it('fails when the DMA lands outside guest RAM', () => {
    const { m, ramFrame, kernelFrame } = machine();
    const trace: WalkTrace = { events: [read('FL PTE', ramFrame, true)], output: BigInt(kernelFrame) * 4096n + 0x10n };
    expect(() => checkNestedReach(m, device(trace), 0x3010n, {}, 'the write')).toThrow(/the write: the DMA at 0x3010 lands at host 0x[0-9a-f]+, outside guest RAM/);
  });

  it('a traced nested walk that fetched nothing by GPA is itself a failure; a unit without traces is not checked', () => {
    const { m, ramFrame } = machine();
    const flat: WalkTrace = { events: [read('SL PTE', ramFrame, false)], output: BigInt(ramFrame) * 4096n };
    expect(() => checkNestedReach(m, device(flat), 0x3000n, {}, 'rid')).toThrow(/rid: the traced walk of 0x3000 shows no structure fetched by guest-physical address/);
    expect(() => checkNestedReach(m, device(undefined), 0x3000n, {}, 'rid')).not.toThrow();
  });
});

describe('checkNoKernelLeaf', () => {
  const leaf = (iova: bigint, addr: bigint, kernel: boolean): DumpEntry => ({ index: 0, entryAddr: 0x1000n, raw: 0n, decoded: { kind: 'leaf', addr } as DumpEntry['decoded'], iova, ...(kernel ? { kernel: true as const } : {}) });
  const dump = (kernelAt: 'none' | 'deep' | 'child'): DomainDump => ({
    title: 'stage 2',
    inputBase: 0n,
    format: 'x',
    root: { level: 1, tableAddr: 0x2000n, entries: [{ ...leaf(0n, 0x5000n, false), decoded: { kind: 'table' } as DumpEntry['decoded'], child: { level: 0, tableAddr: 0x3000n, entries: [leaf(0n, 0x5000n, false), leaf(0x8000000n, 0x7000n, kernelAt === 'deep')] } }] },
    children: [{ title: 'guest stage 1 via CD 1', inputBase: 0n, format: 'y', root: { level: 0, tableAddr: 0x4000n, entries: [leaf(0x1000n, 0x9000n, kernelAt === 'child')] } }],
  });
  const fdOf = (d: DomainDump) => ({ dumpPgtable: () => d }) as unknown as IoasidFd;

  it('passes when no leaf maps a kernel frame, and names the view, input and frame of one that does', () => {
    expect(() => checkNoKernelLeaf(fdOf(dump('none')), 1, 'x')).not.toThrow();
    expect(() => checkNoKernelLeaf(fdOf(dump('deep')), 1, 'after the sequence')).toThrow('after the sequence: DUMP_PGTABLE of IOASID 1 (stage 2) has a leaf at input 0x8000000 that maps the kernel frame at 0x7000');
    expect(() => checkNoKernelLeaf(fdOf(dump('child')), 1, 'x')).toThrow(/\(guest stage 1 via CD 1\) has a leaf at input 0x1000 that maps the kernel frame at 0x9000/);
  });
});
