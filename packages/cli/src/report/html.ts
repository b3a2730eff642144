import type { FaultRecord } from '@ioasid/core';
import type { StepReport } from '../scenario/runner.js';
import type { ReportData, ReportWalk, VendorReport } from './collect.js';
import { traceAddrs } from './collect.js';
import { REPORT_CSS } from './style.js';
import { esc, hex } from './svg-text.js';
import { tableSvg } from './table-svg.js';
import { traceSvg } from './trace-svg.js';

function statusWord(s: StepReport): string {
  return s.status === 'expected-error' ? `${s.errno} (expected)` : s.status === 'not-run' ? 'not run' : s.status;
}

function timeline(d: ReportData): string {
  const steps = Math.max(0, ...d.vendors.map((v) => v.report.steps.length));
  const head = `<tr><th class="n">#</th><th class="op">step</th>${d.vendors.map((v) => `<th>${esc(v.vendor)} <span class="status status-${v.report.status}">${esc(v.report.status)}</span></th>`).join('')}</tr>`;
  const rows: string[] = [];
  for (let i = 0; i < steps; i++) {
    const first = d.vendors.find((v) => v.report.steps[i])!.report.steps[i];
    const cells = d.vendors.map((v) => {
      const s = v.report.steps[i];
      if (!s) return '<td class="muted">—</td>';
      return `<td class="detail" data-vendor="${esc(v.vendor)}" data-status="${s.status}"><span class="status status-${s.status}">${esc(statusWord(s))}</span> ${esc(s.detail)}</td>`;
    });
    const walked = d.vendors.some((v) => v.walks.some((w) => w.step === i + 1));
    const op = walked ? `<a href="#step-${i + 1}">${esc(first.op)}</a>` : esc(first.op);
    rows.push(`<tr data-step="${i + 1}"><td class="n">${i + 1}</td><td>${op}${first.title ? `<div class="muted">${esc(first.title)}</div>` : ''}</td>${cells.join('')}</tr>`);
  }
  const errors = d.vendors.filter((v) => v.report.error).map((v) => `<p><b>${esc(v.vendor)}</b>: ${esc(v.report.error!)}</p>`).join('');
  return `<section id="timeline"><h2>Steps</h2>${errors}<div class="scroll"><table class="timeline"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function outcome(w: ReportWalk): string {
  if (w.trace.fault) return `<p class="outcome-fault">blocked: <b>${esc(w.trace.fault.name)}</b> (${w.trace.fault.code})${w.trace.fault.explain ? ` — ${esc(w.trace.fault.explain)}` : ''}</p>`;
  if (w.trace.output !== undefined) return `<p class="outcome-ok">reaches host physical <code>${hex(w.trace.output)}</code></p>`;
  return '';
}

function vendorWalk(v: VendorReport, w: ReportWalk | undefined, step: number): string {
  if (!w) {
    const s = v.report.steps[step - 1];
    return `<div class="vendor" data-vendor="${esc(v.vendor)}"><h4>${esc(v.vendor)}</h4><p class="muted">${s ? `${esc(statusWord(s))}: no walk traced` : 'not run'}</p></div>`;
  }
  const id = `w-${esc(v.vendor)}-${step}`;
  const path = traceAddrs(w.trace);
  const tables = w.tables
    .map((t, i) => `<details open><summary>IOASID ${t.ioasid}: ${esc(t.dump.title)} (${esc(t.dump.format)}), the walk's entries highlighted</summary><div class="scroll">${tableSvg(t.dump, path, `${id}-t${i}`)}</div></details>`)
    .join('');
  const regs = `<div class="scroll">${traceSvg(w.trace, v.registers, id)}</div>`;
  return `<div class="vendor" data-vendor="${esc(v.vendor)}"><h4>${esc(v.vendor)}</h4>${outcome(w)}<details open><summary>the hardware's walk, read by read</summary>${regs}</details>${tables}</div>`;
}

function walks(d: ReportData): string {
  const steps = [...new Set(d.vendors.flatMap((v) => v.walks.map((w) => w.step)))].sort((a, b) => a - b);
  if (steps.length === 0) return '<section id="walks"><h2>DMA walks</h2><p class="muted">No DMA step was traced (the units do not trace, or the scenario has no DMA).</p></section>';
  const parts = steps.map((step) => {
    const any = d.vendors.flatMap((v) => v.walks).find((w) => w.step === step)!;
    const title = d.vendors.map((v) => v.report.steps[step - 1]?.title).find(Boolean);
    const what = `${any.write ? 'write' : 'read'} by ${any.device} at ${hex(any.iova)}${any.pasid !== undefined ? ` PASID ${any.pasid}` : ''}`;
    return `<article class="walk-step" id="step-${step}" data-step="${step}"><h3>Step ${step}: ${esc(what)}${title ? ` — ${esc(title)}` : ''}</h3><div class="vendors">${d.vendors.map((v) => vendorWalk(v, v.walks.find((w) => w.step === step), step)).join('')}</div></article>`;
  });
  return `<section id="walks"><h2>DMA walks</h2><p class="muted">Each DMA step's request as the IOMMU walks it just before the step runs, from memory (no cache), beside the tables it read.</p>${parts.join('')}</section>`;
}

function faultGlossary(d: ReportData): string {
  const seen = new Map<string, FaultRecord>();
  for (const v of d.vendors) for (const w of v.walks) if (w.trace.fault) seen.set(`${v.vendor}: ${w.trace.fault.name}`, w.trace.fault);
  if (seen.size === 0) return '';
  const items = [...seen].map(([k, f]) => `<dt>${esc(k)} (${f.code})</dt><dd>${esc(f.explain ?? 'no explanation published')}</dd>`).join('');
  return `<section id="faults"><h2>Faults met</h2><dl class="faults">${items}</dl></section>`;
}

function registers(d: ReportData): string {
  const blocks = d.vendors.map((v) => {
    const rows = Object.entries(v.registers).map(([k, x]) => `${esc(k)} = ${hex(x)}`).join('\n');
    return `<details><summary>${esc(v.vendor)}: ${Object.keys(v.registers).length} registers at the end</summary><pre class="mono">${rows}</pre></details>`;
  });
  return `<section id="registers"><h2>Unit registers</h2>${blocks.join('')}</section>`;
}

/** The whole report as one self-contained HTML page (inline CSS and SVG, no script, no network). */
export function renderHtml(d: ReportData, version: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ioasid report: ${esc(d.scenario)}</title><style>${REPORT_CSS}</style></head>
<body>
<header><h1>${esc(d.title)}</h1><p class="muted">Scenario <code>${esc(d.scenario)}</code> (${esc(d.file)}) on ${d.vendors.map((v) => esc(v.vendor)).join(', ')} · ioasid ${esc(version)}</p></header>
${timeline(d)}
${walks(d)}
${faultGlossary(d)}
${registers(d)}
<footer class="muted">Levels are numbered as each vendor's specification numbers them; structures are decoded from host memory as the hardware reads them.</footer>
</body></html>
`;
}
