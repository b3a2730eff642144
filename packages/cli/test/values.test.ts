import { describe, expect, it } from 'vitest';
import { Unsupported, Vars, parseNumber, toBytes } from '../src/scenario/values.js';

describe('scenario values', () => {
  it('parses number forms', () => {
    expect(parseNumber('4096')).toBe(4096n);
    expect(parseNumber('0x1000')).toBe(4096n);
    expect(parseNumber('4K')).toBe(4096n);
    expect(parseNumber('2M')).toBe(2n << 20n);
    expect(parseNumber('1G')).toBe(1n << 30n);
    expect(parseNumber('0x0800_0000_0000_0000')).toBe(0x0800000000000000n);
  });

  it('resolves references, paths and offsets', () => {
    const v = new Vars();
    v.set('gpa', 3);
    v.set('buf', { gpa: 0x1000n, list: [{ id: 7 }] });
    expect(v.resolve('$gpa')).toBe(3);
    expect(v.resolve({ ioasid: '$gpa', at: ['$buf.gpa + 0x10'] })).toEqual({ ioasid: 3, at: [0x1010n] });
    expect(v.resolve('$buf.list.0.id')).toBe(7);
    expect(v.resolve('$buf.gpa + 4K')).toBe(0x2000n);
    expect(() => v.resolve('$buf.nothing')).toThrow(/\$buf\.nothing does not exist/);
  });

  it('a missing entry of a GET_INFO result means unsupported', () => {
    const v = new Vars();
    v.set('info', { formats: [] }, true);
    expect(() => v.resolve('$info.formats.0')).toThrow(Unsupported);
  });

  it('bytes', () => {
    expect([...toBytes('de ad be ef', 'b')]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect([...toBytes('0102', 'b')]).toEqual([1, 2]);
    expect(new TextDecoder().decode(toBytes({ text: 'hi' }, 'b'))).toBe('hi');
    expect([...toBytes({ fill: 0xab, length: 3n }, 'b')]).toEqual([0xab, 0xab, 0xab]);
  });
});
