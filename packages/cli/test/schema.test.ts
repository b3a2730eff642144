import { describe, expect, it } from 'vitest';
import { parseScenario } from '../src/scenario/load.js';
import { errorOf, head } from './scenario-error-of.js';

describe('scenario schema errors name file, line and column', () => {
  it('a value of the wrong type points at the value', () => {
    const e = errorOf(`${head}  - bind: { device: dev1 }\n  - attach: { device: 7, ioasid: 1 }\n`);
    expect(e.message).toBe('bad.yaml:4:23: step 2 (attach): device: expected string, received number');
    expect([e.line, e.col]).toEqual([4, 23]);
  });

  it('an unknown key points at the key', () => {
    const e = errorOf(`${head}  - map:\n      ioasid: 1\n      iova: 0\n      sise: 4K\n`);
    // The missing 'size' is the misspelt key: reported once, as the unknown key with a did-you-mean.
    expect(e.message).toBe("bad.yaml:6:7: step 1 (map): unknown key 'sise'; did you mean 'size'?");
  });

  it('an unknown operation names the operations', () => {
    const e = errorOf(`${head}  - allocate: {}\n`);
    expect(e.line).toBe(3);
    expect(e.message).toBe("bad.yaml:3:5: step 1: unknown operation 'allocate'; did you mean 'alloc'?");
    const far = errorOf(`${head}  - frobnicate: {}\n`);
    expect(far.message).toMatch(/^bad\.yaml:3:5: step 1: unknown operation 'frobnicate' \(expected one of bind, unbind, .*, close\)$/);
  });

  it('a step with two operations is refused', () => {
    const e = errorOf(`${head}  - alloc: {}\n    free: { ioasid: 1 }\n`);
    expect(e.message).toMatch(/^bad\.yaml:3:5: step 1 \(alloc\): expected exactly one operation per step, found alloc and free$/);
  });

  it('a bad number form says what was expected', () => {
    const e = errorOf(`${head}  - map: { ioasid: 1, iova: twelve, size: 4K }\n`);
    expect(e.message).toMatch(/^bad\.yaml:3:29: step 1 \(map\): iova: expected an integer \(4096, 0x1000, 2M\) or a \$reference$/);
  });

  it('a reference to a name no earlier step defines', () => {
    const e = errorOf(`${head}  - attach: { device: dev1, ioasid: $gpa }\n  - alloc: {}\n    as: gpa\n`);
    expect(e.message).toMatch(/^bad\.yaml:3:37: step 1 \(attach\): ioasid: '\$gpa' is not defined by an earlier step/);
  });

  it('an unknown errno name', () => {
    const e = errorOf(`${head}  - alloc: {}\n    expect: ENOTHING\n`);
    expect(e.message).toMatch(/^bad\.yaml:4:13: step 1 \(alloc\): expect: expected an errno name/);
  });

  it('argument combinations the schema cannot express', () => {
    expect(errorOf(`${head}  - unmap: { ioasid: 1, iova: 0 }\n`).message).toMatch(/expected either iova and size, or all: true/);
    expect(errorOf(`${head}  - bind-pgtable: { ioasid: 1 }\n`).message).toMatch(/expected either table/);
  });

  it('a YAML syntax error', () => {
    const e = errorOf(`${head}  - alloc: {\n`);
    expect(e.message).toMatch(/^bad\.yaml:\d+:\d+: YAML: /);
  });

  it('missing top-level fields', () => {
    expect(errorOf('steps:\n  - alloc: {}\n').message).toBe('bad.yaml:1:1: title: missing (expected string)');
  });

  it('keeps 64-bit addresses exact and records step lines', () => {
    const sc = parseScenario(`${head}  - alloc: {}\n    as: a\n  - map: { ioasid: $a, iova: 0x0800000000000000, size: 4K }\n`, 'ok.yaml');
    expect((sc.spec.steps[1].map as { iova: bigint }).iova).toBe(0x0800000000000000n);
    expect(sc.stepLines).toEqual([3, 5]);
    expect(sc.name).toBe('ok');
  });
});
