import type { IoasidInfo, PgtableFormat } from '@ioasid/core';
import type { Painter } from '../output/colour.js';
import { hex, range, size } from '../output/format.js';
import { makeTable, textWidth } from '../output/table.js';
import type { VendorInfoView } from './collect.js';

/** `{ kind: 'vtd-first-level', levels: 4 }` → "vtd-first-level levels=4". */
export function formatName(f: PgtableFormat): string {
  const params = Object.entries(f)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`);
  return [f.kind, ...params].join(' ');
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

const ROWS: [string, (i: IoasidInfo) => string][] = [
  ['protocols', (i) => i.protocols.join('\n') || '-'],
  ['nesting', (i) => i.nesting],
  ['page sizes', (i) => i.pageSizes.map((s) => `${hex(s)} (${size(s)})`).join('\n') || '-'],
  ['permitted IOVA ranges', (i) => i.permittedRanges.map(range).join('\n') || '-'],
  ['page-table formats', (i) => i.formats.map(formatName).join('\n') || '-'],
  ['PASID table formats', (i) => i.pasidTableFormats.map(formatName).join('\n') || '-'],
  ['PASID width', (i) => (i.pasidBits > 0 ? `${i.pasidBits} bits` : 'none')],
  ['ENQCMD', (i) => yesNo(i.enqcmd)],
  ['page requests (PRI)', (i) => yesNo(i.pageRequest)],
  ['device TLB (ATS)', (i) => yesNo(i.ats)],
  ['coherent', (i) => yesNo(i.coherent)],
];

interface Column {
  head: string;
  info: IoasidInfo;
}

/** One column per vendor and group of devices whose GET_INFO is identical. */
function deviceColumns(views: VendorInfoView[]): Column[] {
  const cols: Column[] = [];
  for (const v of views) {
    const groups = new Map<string, { names: string[]; info: IoasidInfo }>();
    for (const d of v.devices) {
      const key = JSON.stringify(d.info, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
      const g = groups.get(key);
      if (g) g.names.push(d.name);
      else groups.set(key, { names: [d.name], info: d.info });
    }
    for (const g of groups.values()) cols.push({ head: `${v.vendor}\n${g.names.join(', ')}`, info: g.info });
  }
  return cols;
}

function ioasidColumns(views: VendorInfoView[]): Column[] {
  return views
    .filter((v) => v.ioasid)
    .map((v) => ({ head: `${v.vendor}\nIOASID ${v.ioasid!.id} (${v.ioasid!.attached.join(', ') || 'nothing attached'})`, info: v.ioasid!.info }));
}

function grid(cols: Column[], p: Painter): string {
  const t = makeTable(['GET_INFO', ...cols.map((c) => c.head)], p);
  for (const [name, get] of ROWS) t.push([name, ...cols.map((c) => get(c.info))]);
  return t.toString();
}

/** Side by side when that fits `columns`; otherwise one column at a time, one under the other. */
function table(title: string, cols: Column[], p: Painter, columns?: number): string {
  const wide = grid(cols, p);
  const body = columns === undefined || textWidth(wide) <= columns || cols.length <= 1 ? wide : cols.map((c) => grid([c], p)).join('\n');
  return `${p.paint('bold', title)}\n${body}\n`;
}

export function renderInfo(views: VendorInfoView[], p: Painter, columns?: number): string {
  let out = '';
  const ok = views.filter((v) => !v.error);
  if (ok.length > 0) {
    out += table('Per device (device GET_INFO after BIND_IOASID_FD, before any IOASID exists)', deviceColumns(ok), p, columns);
    out += '\n' + table("Per IOASID (GET_INFO of a 'map' IOASID after attaching the devices)", ioasidColumns(ok), p, columns);
  }
  for (const v of ok) {
    for (const n of v.ioasid?.notAttached ?? []) out += `note: ${v.vendor}: ${n.device} did not attach: ${n.reason}\n`;
  }
  for (const v of views.filter((x) => x.error)) out += p.paint('red', `${v.vendor}: default machine failed: ${v.error}`) + '\n';
  return out;
}
