import type { Device, IoasidFd } from '@ioasid/core';

/** What an argument must be (the typed API). */
export type Kind =
  | 'u64'
  | 'ioasid'
  | 'int'
  | 'pasid'
  | 'bool'
  | 'protocol'
  | 'code'
  | 'label'
  | 'ext'
  | 'bytes'
  | 'length'
  | 'format'
  | 'fd'
  | 'device'
  | 'name'
  | 'huge';

/** Things a junk value can only be made from on a live machine. */
export interface JunkSources {
  closedFd: IoasidFd;
  foreignFd: IoasidFd;
  foreignDevice: Device;
}

export type Junk = { label: string; value: (s: JunkSources) => unknown };

const v = (label: string, value: unknown): Junk => ({ label, value: () => value });
const SYM = Symbol('junk');

/** Values no argument of any kind accepts as a whole (an object, a number, a bigint… where another is due). */
const COMMON: Junk[] = [v('null', null), v('Symbol(junk)', SYM), v('[]', []), v('[1, 2]', [1, 2]), v('() => 0', () => 0)];
const NOT_NUMBER: Junk[] = [v("'1'", '1'), v('1n', 1n), v('true', true), v('{}', {})];
const BAD_INTS: Junk[] = [v('NaN', NaN), v('1.5', 1.5), v('-1', -1), v('Infinity', Infinity), v('2^53', 2 ** 53)];

/** Junk for each kind: wrong types, and right types out of range. `undefined` is added for required ones. */
export const JUNK: Record<Kind, Junk[]> = {
  u64: [
    ...COMMON,
    v('4096 (a number)', 4096),
    v('NaN', NaN),
    v("'4096'", '4096'),
    v('true', true),
    v('{}', {}),
    v('-1n', -1n),
    v('-0x1000n', -4096n),
    v('2^64', 1n << 64n),
    v('2^64+0x1000', (1n << 64n) + 4096n),
    v('2^128', 1n << 128n),
  ],
  ioasid: [...COMMON, ...NOT_NUMBER, ...BAD_INTS, v('2^32', 2 ** 32)],
  int: [...COMMON, ...NOT_NUMBER, ...BAD_INTS],
  pasid: [...COMMON, ...NOT_NUMBER, ...BAD_INTS, v('2^20', 2 ** 20)],
  bool: [...COMMON, v('0', 0), v('1', 1), v("'true'", 'true'), v("'false'", 'false'), v('1n', 1n), v('{}', {})],
  protocol: [...COMMON, v('1', 1), v("''", ''), v("'bogus'", 'bogus'), v("'MAP'", 'MAP'), v('{}', {}), v('1n', 1n)],
  code: [...COMMON, v('0', 0), v("''", ''), v("'bogus'", 'bogus'), v('{}', {})],
  label: [...COMMON, v('1', 1), v("''", ''), v('{}', {}), v('1n', 1n)],
  ext: [...COMMON, v('1', 1), v('{}', {}), v('1n', 1n)],
  bytes: [...COMMON, v("'abc'", 'abc'), v('42', 42), v('{}', {}), v('1n', 1n), v('Uint16Array(4)', new Uint16Array(4)), v('ArrayBuffer(8)', new ArrayBuffer(8))],
  length: [...COMMON, ...NOT_NUMBER, ...BAD_INTS],
  format: [...COMMON, v("'x'", 'x'), v('42', 42), v('{}', {}), v('{ kind: 42 }', { kind: 42 }), v("{ kind: 'bogus-format' }", { kind: 'bogus-format' })],
  fd: [...COMMON, v('42', 42), v("'fd'", 'fd'), v('{}', {}), { label: 'a closed fd', value: (s) => s.closedFd }, { label: "another machine's fd", value: (s) => s.foreignFd }],
  device: [...COMMON, v('42', 42), v("'dev0'", 'dev0'), v('{}', {}), { label: "another machine's device", value: (s) => s.foreignDevice }],
  name: [...COMMON, v('42', 42), v('{}', {}), v('1n', 1n)],
  huge: [...COMMON, v("'4K'", '4K'), v('2', 2), v('{}', {}), v('true', true)],
};

/** Junk for a whole argument object (or an options object). */
export const WHOLE: Junk[] = [...COMMON, v('0', 0), v("'x'", 'x'), v('1n', 1n), v('true', true)];

export const UNDEFINED: Junk = v('undefined', undefined);
