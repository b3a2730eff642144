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
