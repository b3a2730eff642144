import { describe, expect, it } from 'vitest';
import { TRACE_READ_LIMIT, WalkTracer, isTraceRead, type TraceRead } from '../src/hw/walk-trace.js';

const read = (structure: string, addr: number, stage = 'stage 1'): TraceRead =>
  ({ structure, stage, addr: BigInt(addr), raw: [0n], fields: {} });

describe('WalkTracer', () => {
  it('puts the stage-2 sub-walk that located a fetch under that fetch', () => {
    const t = new WalkTracer();
    t.read(read('STE', 0x1000));
    t.begin();
    t.read(read('level 1 table entry', 0x2000, 'stage 2'));
    t.read(read('level 2 block', 0x3000, 'stage 2'));
    t.end();
    t.read(read('CD', 0x4000));
    t.leaf({ read: true, write: false }, 4096n);
    t.finish(0x5, 0x123);
    const ev = t.trace.events.filter(isTraceRead);
    expect(ev.map((e) => e.structure)).toEqual(['STE', 'CD']);
    expect(ev[1].via?.map((e) => e.addr)).toEqual([0x2000n, 0x3000n]);
    expect(t.trace).toMatchObject({ output: 0x5123n, perms: { read: true, write: false }, pageSize: 4096n });
  });

  it('keeps the reads of a sub-walk that faulted, at the top', () => {
    const t = new WalkTracer();
    t.read(read('STE', 0x1000));
    t.begin();
    t.read(read('level 1 table entry', 0x2000, 'stage 2'));
    t.finish({ rid: 8, iova: 0n, write: false, code: 0x10, name: 'F_TRANSLATION' }, 0);
    expect(t.trace.events.filter(isTraceRead).map((e) => e.addr)).toEqual([0x1000n, 0x2000n]);
    expect(t.trace.fault?.name).toBe('F_TRANSLATION');
  });

  it('records cache probes in order and stops keeping reads at its bound', () => {
    const t = new WalkTracer();
    t.probe('IOTLB', false);
    for (let i = 0; i < TRACE_READ_LIMIT + 10; i++) t.read(read('TCE', i * 8));
    expect(t.trace.events[0]).toEqual({ cache: 'IOTLB', hit: false });
    expect(t.trace.events.length).toBe(TRACE_READ_LIMIT + 1);
    expect(t.trace.truncated).toBe(true);
  });
});
