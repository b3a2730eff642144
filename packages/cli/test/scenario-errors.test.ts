import { describe, expect, it } from 'vitest';
import { MAX_PROBLEMS_SHOWN } from '../src/scenario/error.js';
import { errorOf, head } from './scenario-error-of.js';
import { pathText } from '../src/scenario/positions.js';

describe('scenario errors list every problem (issue 19)', () => {
  it('every schema problem, one per line in file order, the first as the headline', () => {
    const e = errorOf(`${head}  - alloc: {}\n    titel: x\n  - attach: { device: 7, ioasid: x }\n  - map: { ioasid: 1, iova: 0 }\n`);
    expect(e.message.split('\n')).toEqual([
      "bad.yaml:4:5: step 1 (alloc): unknown key 'titel'; did you mean 'title'?",
      'bad.yaml:5:23: step 2 (attach): device: expected string, received number',
      'bad.yaml:5:34: step 2 (attach): ioasid: expected an integer (4096, 0x1000, 2M) or a $reference',
      'bad.yaml:6:10: step 3 (map): size: missing (expected an integer (4096, 0x1000, 2M) or a $reference)',
    ]);
    expect([e.line, e.col, e.detail]).toEqual([4, 5, "step 1 (alloc): unknown key 'titel'; did you mean 'title'?"]);
    expect(e.problems).toHaveLength(4);
    expect(e.problems[3]).toEqual({ line: 6, col: 10, detail: 'step 3 (map): size: missing (expected an integer (4096, 0x1000, 2M) or a $reference)' });
  });

  it('one problem is one line, as before', () => {
    const e = errorOf(`${head}  - map: { ioasid: 1, iova: zero, size: 4K }\n`);
    expect(e.message).toBe('bad.yaml:3:29: step 1 (map): iova: expected an integer (4096, 0x1000, 2M) or a $reference');
    expect(e.problems).toHaveLength(1);
  });

  it(`shows at most ${MAX_PROBLEMS_SHOWN} problems and counts the rest`, () => {
    const e = errorOf(head + '  - map: { ioasid: x, iova: y, size: z }\n'.repeat(10));
    const lines = e.message.split('\n');
    expect(e.problems).toHaveLength(30);
    expect(lines).toHaveLength(MAX_PROBLEMS_SHOWN + 1);
    expect(lines[MAX_PROBLEMS_SHOWN]).toBe('… and 10 more problems');
    expect(lines[MAX_PROBLEMS_SHOWN - 1]).toBe('bad.yaml:9:29: step 7 (map): iova: expected an integer (4096, 0x1000, 2M) or a $reference');
  });

  it('every reference and argument problem, after the schema passes', () => {
    const e = errorOf(`${head}  - attach: { device: dev1, ioasid: $gpa }\n  - unmap: { ioasid: $gpa, iova: 0 }\n`);
    expect(e.message.split('\n')).toEqual([
      "bad.yaml:3:37: step 1 (attach): ioasid: '$gpa' is not defined by an earlier step (define it with 'as: gpa')",
      'bad.yaml:4:12: step 2 (unmap): expected either iova and size, or all: true',
      "bad.yaml:4:22: step 2 (unmap): ioasid: '$gpa' is not defined by an earlier step (define it with 'as: gpa')",
    ]);
  });

  it('every YAML syntax error', () => {
    const e = errorOf(`${head}  - alloc: {}\n  - free: { ioasid: 1\n`);
    expect(e.message).toMatch(/^bad\.yaml:\d+:\d+: YAML: /);
    for (const line of e.message.split('\n')) expect(line).toMatch(/^bad\.yaml:\d+:\d+: YAML: /);
  });
});

describe('scenario error paths number steps as run does, with the operation', () => {
  it('names the step from 1 and its operation, and the path inside it as written', () => {
    expect(pathText(['steps', 3, 'map', 'size'])).toBe('step 4 (map): size');
    expect(pathText(['steps', 0, 'guest-pgtable', 'map', 0, 'gva'])).toBe('step 1 (guest-pgtable): map[0].gva');
    expect(pathText(['steps', 1], { steps: [{}, { free: {} }] })).toBe('step 2 (free)');
    expect(pathText(['steps', 1, 'expect'], { steps: [{}, { free: {} }] })).toBe('step 2 (free): expect');
    expect(pathText(['steps', 1])).toBe('step 2');
    expect(pathText(['machine', 'devices', 0, 'name'])).toBe('machine.devices[0].name');
    expect(pathText([])).toBe('(top level)');
  });

  it('a problem in a step-level key names the step and its operation', () => {
    const e = errorOf(`${head}  - alloc: {}\n  - free: { ioasid: 1 }\n    expect: ENOTHING\n`);
    expect(e.message).toMatch(/^bad\.yaml:5:13: step 2 \(free\): expect: expected an errno name \(/);
  });
});

describe('problems with the shape of the file or of a step say what was meant', () => {
  it('an empty file, a list, an empty list, an empty string', () => {
    expect(errorOf('').message).toBe('bad.yaml:1:1: the file is empty: expected title: and steps:');
    expect(errorOf('- alloc: {}\n').message).toBe('bad.yaml:1:1: expected a map with title: and steps: at the top level');
    expect(errorOf('title: t\nsteps: []\n').message).toBe('bad.yaml:2:8: steps: expected at least 1 item');
    expect(errorOf(`${head}  - bind: { device: "" }\n`).message).toBe('bad.yaml:3:21: step 1 (bind): device: expected a non-empty string');
  });

  it('a step written as a bare word', () => {
    expect(errorOf(`${head}  - alloc\n`).message).toBe("bad.yaml:3:5: step 1: expected 'alloc:' with its arguments (e.g. '- alloc: {}'), not a bare word");
    expect(errorOf(`${head}  - 7\n`).message).toBe('bad.yaml:3:5: step 1: expected object, received number');
  });
});

describe('did-you-mean on unknown keys, operations and choices', () => {
  it("an op's key: pasid where attach takes userPasid", () => {
    const e = errorOf(`${head}  - attach: { device: dev1, ioasid: 1, pasid: 3 }\n`);
    expect(e.message).toBe("bad.yaml:3:40: step 1 (attach): unknown key 'pasid'; did you mean 'userPasid'?");
  });

  it('a top-level key: vendor → vendors', () => {
    const e = errorOf(`title: t\nvendor: [intel-vtd]\nsteps:\n  - alloc: {}\n`);
    expect(e.message).toBe("bad.yaml:2:1: unknown top-level key 'vendor'; did you mean 'vendors'?");
  });

  it('a machine key and a device key', () => {
    const e = errorOf(`title: t\nmachine:\n  guestMem: 64M\n  devices: [{ name: d, enqcmnd: true }]\n${head.slice(9)}  - alloc: {}\n`);
    expect(e.message.split('\n')).toEqual([
      "bad.yaml:3:3: machine: unknown key 'guestMem'; did you mean 'guestMemory'?",
      "bad.yaml:4:24: machine.devices[0]: unknown key 'enqcmnd'; did you mean 'enqcmd'?",
    ]);
  });

  it('an unknown operation', () => {
    expect(errorOf(`${head}  - dma-wirte: {}\n`).message).toBe("bad.yaml:3:5: step 1: unknown operation 'dma-wirte'; did you mean 'dma-write'?");
    expect(errorOf(`${head}  - unmpa: { ioasid: 1, all: true }\n`).message).toBe("bad.yaml:3:5: step 1: unknown operation 'unmpa'; did you mean 'unmap'?");
    // A misspelt step-level key beside a misspelt operation is still taken for a key.
    expect(errorOf(`${head}  - alocate: {}\n    titel: x\n`).message.split('\n')).toEqual([
      "bad.yaml:3:5: step 1: unknown operation 'alocate' (expected one of bind, unbind, check-extension, register, unregister, mmap, alloc, nest, attach, detach, info, map, unmap, guest-alloc, guest-write, guest-read, vmm-write, vmm-read, guest-pgtable, guest-pasid-table, guest-pasid-entry, bind-pgtable, bind-pasid-table, invalidate, set-dirty-tracking, get-dirty-bitmap, dma-write, dma-read, reset, read-faults, page-response, kvm-map-pasid, kvm-unmap-pasid, enqcmd, lookup, free, close)",
      "bad.yaml:4:5: step 1: unknown key 'titel'; did you mean 'title'?",
    ]);
  });

  it('a misspelt errno or protocol', () => {
    expect(errorOf(`${head}  - alloc: {}\n    expect: EINVALID\n`).message).toMatch(/expect: expected an errno name \(.*\); did you mean 'EINVAL'\?$/);
    expect(errorOf(`${head}  - nest: { parent: 1, protocol: user-pgtabel }\n`).message).toMatch(/^bad\.yaml:3:34: step 1 \(nest\): protocol: expected one of "map"\|"user-pgtable"\|"user-pasid-table"; did you mean 'user-pgtable'\?$/);
  });

  it('a fault expectation of the wrong kind says which forms there are', () => {
    expect(errorOf(`${head}  - dma-read: { device: d, iova: 0, length: 4, fault: 5 }\n`).message).toBe(
      'bad.yaml:3:55: step 1 (dma-read): fault: expected true (any fault), a fault name, a list of names, or names per vendor ({ intel-vtd: ..., arm-smmuv3: ... })',
    );
  });
});
