import { describe, expect, expectTypeOf, it } from 'vitest';
import { isPgtableFormat, type PgtableFormat, type PgtableFormatOf, type RegisteredPgtableFormat } from '../src/index.js';

// Two formats registered as a vendor package registers its own.
declare module '../src/base/pgtable-formats.js' {
  interface PgtableFormatRegistry {
    'test-radix': { levels: 3 | 4 };
    'test-pasid-table': { entriesLog2: number };
  }
}

describe('vendor formats as a discriminated union (issue 19 item 2)', () => {
  it('RegisteredPgtableFormat is the union of the registered kinds; kind narrows it', () => {
    expectTypeOf<RegisteredPgtableFormat['kind']>().toEqualTypeOf<'test-radix' | 'test-pasid-table'>();
    expectTypeOf<PgtableFormatOf<'test-radix'>>().toEqualTypeOf<{ kind: 'test-radix' } & { levels: 3 | 4 }>();
    const pick = (f: RegisteredPgtableFormat): number => (f.kind === 'test-radix' ? f.levels : f.entriesLog2);
    expect(pick({ kind: 'test-radix', levels: 4 })).toBe(4);
    // @ts-expect-error -- a parameter of another kind
    expect(pick({ kind: 'test-radix', entriesLog2: 4 })).toBeUndefined();
  });

  it('isPgtableFormat narrows any format (as GET_INFO lists it) by kind', () => {
    const listed: PgtableFormat[] = [{ kind: 'test-pasid-table', entriesLog2: 6 }, { kind: 'test-radix', levels: 3 }];
    const radix = listed.find((f) => isPgtableFormat(f, 'test-radix'));
    expect(radix).toEqual({ kind: 'test-radix', levels: 3 });
    const f: PgtableFormat = listed[0]!;
    if (isPgtableFormat(f, 'test-pasid-table')) expectTypeOf(f.entriesLog2).toEqualTypeOf<number>();
    for (const junk of [null, undefined, 'test-radix', 3, {}, { kind: 'test-radix2' }]) expect(isPgtableFormat(junk, 'test-radix')).toBe(false);
  });
});
