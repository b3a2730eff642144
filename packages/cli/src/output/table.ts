import Table from 'cli-table3';
import type { Painter } from './colour.js';

/** A cli-table3 table whose header is bold only when colour is on (cli-table3 colours by default). */
export function makeTable(head: string[], p: Painter, options: { wordWrap?: boolean } = {}): Table.Table {
  return new Table({
    head: head.map((h) => p.paint('bold', h)),
    style: { head: [], border: [] },
    wordWrap: options.wordWrap ?? false,
  });
}

/** Width of the widest line of rendered text, colour codes not counted. */
export function textWidth(text: string): number {
  // eslint-disable-next-line no-control-regex
  return Math.max(0, ...text.split('\n').map((l) => l.replace(/\u001b\[[0-9;]*m/g, '').length));
}
