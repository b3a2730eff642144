import type { Painter } from '../output/colour.js';
import type { ScenarioReport, StepReport } from './runner.js';

function statusText(s: StepReport, p: Painter): string {
  switch (s.status) {
    case 'ok':
      return p.paint('green', 'ok');
    case 'expected-error':
      return p.paint('green', `${s.errno} (expected)`);
    case 'unsupported':
      return p.paint('yellow', 'unsupported');
    case 'skipped':
      return p.paint('dim', 'skipped');
    case 'fail':
      return p.paint('red', 'FAIL');
    case 'not-run':
      return p.paint('dim', 'not run');
  }
}

const pad = (s: string, n: number, visible = s.length) => s + ' '.repeat(Math.max(0, n - visible));

/** One block per vendor: every step with its status and what it did. */
export function renderReport(r: ScenarioReport, p: Painter): string {
  let out = `${p.paint('bold', `${r.scenario}`)} on ${p.paint('bold', r.vendor)}: ${r.title}\n`;
  if (r.error) out += `  ${r.status === 'fail' ? p.paint('red', 'FAIL') : p.paint('yellow', 'unsupported')}: ${r.error}\n`;
  const opWidth = Math.max(4, ...r.steps.map((s) => s.op.length));
  const plainText = (s: StepReport) => statusText(s, { enabled: false, paint: (_st, t) => t });
  const statusWidth = Math.max(11, ...r.steps.map((s) => plainText(s).length));
  for (const s of r.steps) {
    // A failed step says where it is in the file; its row may stick out past the column.
    const where = s.source ? ` (${s.source})` : '';
    const plain = plainText(s) + where;
    const status = statusText(s, p) + where;
    const title = s.title ? `${s.title}: ` : '';
    out += `  ${String(s.index).padStart(2)}  ${pad(s.op, opWidth)}  ${pad(status, statusWidth, plain.length)}  ${title}${s.detail}\n`;
  }
  out += `  => ${verdict(r, p)}\n`;
  return out;
}

export function verdict(r: ScenarioReport, p: Painter): string {
  const n = (st: StepReport['status']) => r.steps.filter((s) => s.status === st).length;
  const parts = [`${n('ok')} ok`];
  if (n('expected-error')) parts.push(`${n('expected-error')} expected errors`);
  if (n('unsupported')) parts.push(`${n('unsupported')} unsupported`);
  if (n('skipped')) parts.push(`${n('skipped')} skipped`);
  if (n('fail')) parts.push(`${n('fail')} failed`);
  if (n('not-run')) parts.push(`${n('not-run')} not run`);
  const word = r.status === 'pass' ? p.paint('green', 'pass') : r.status === 'fail' ? p.paint('red', 'FAIL') : p.paint('yellow', 'unsupported');
  return `${word} (${parts.join(', ')})`;
}
