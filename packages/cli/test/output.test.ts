import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { colourEnabled, painter } from '../src/output/colour.js';
import { createProgress } from '../src/output/progress.js';
import { toJson } from '../src/output/json.js';
import { size } from '../src/output/format.js';

describe('output helpers', () => {
  it('colour only on a terminal that shows it: never with NO_COLOR or TERM=dumb; FORCE_COLOR anywhere', () => {
    expect(colourEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colourEnabled({ isTTY: false }, { TERM: 'dumb', FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, { TERM: 'xterm-256color' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(painter(false).paint('red', 'x')).toBe('x');
    expect(painter(true).paint('red', 'x')).toBe('\u001b[31mx\u001b[39m');
  });

  it('progress: plain lines without a terminal, nothing in JSON mode, a bar on a terminal', () => {
    let text = '';
    const p = createProgress({ tty: false, write: (t) => (text += t) });
    p.tick(1, 12, 'a: pass');
    p.tick(12, 12, 'b: fail');
    p.stop();
    expect(text).toBe('[ 1/12] a: pass\n[12/12] b: fail\n');
    const q = createProgress({ tty: false, quiet: true, write: (t) => (text += t) });
    q.tick(1, 1, 'x');
    expect(text).toBe('[ 1/12] a: pass\n[12/12] b: fail\n');

    let drawn = '';
    const stream = new Writable({ write: (c, _e, cb) => ((drawn += String(c)), cb()) }) as unknown as NodeJS.WriteStream;
    Object.assign(stream, { isTTY: true, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    const bar = createProgress({ tty: true, barStream: stream, write: () => {} });
    bar.tick(1, 2, 'intel-vtd map: pass');
    bar.tick(2, 2, 'intel-vtd unmap: pass');
    bar.stop();
    expect(drawn).toContain('2/2 intel-vtd unmap: pass');
  });

  it('JSON with bigints and bytes as hex; sizes', () => {
    expect(JSON.parse(toJson({ a: 0x1000n, b: new Uint8Array([1, 255]) }))).toEqual({ a: '0x1000', b: '01ff' });
    expect([size(4096n), size(2n << 20n), size(0x1800n), size(0x1801n)]).toEqual(['4K', '2M', '6K', '0x1801']);
  });
});
