/** The report's stylesheet: readable at a laptop width, printable, no web fonts or network. */
export const REPORT_CSS = `
:root { --fg: #1d2330; --muted: #6b7280; --line: #d5d9e0; --ok: #17803d; --bad: #b42318; --warn: #a15c07; --hl: #fff1a8; --path: #d97706; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fafbfc; }
header, section, footer { max-width: 1400px; margin: 0 auto; padding: 12px 20px; }
h1 { font-size: 1.5em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
h4 { margin: 0.2em 0 0.4em; font-size: 1em; }
.muted { color: var(--muted); }
code, .mono, td.detail { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
table.timeline { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.timeline th, table.timeline td { border: 1px solid var(--line); padding: 4px 6px; vertical-align: top; text-align: left; overflow-wrap: anywhere; }
table.timeline th.n, table.timeline td.n { width: 2.6em; text-align: right; }
table.timeline th.op { width: 12em; }
table.timeline thead th { background: #eef1f5; position: sticky; top: 0; }
.status { font-weight: 600; }
.status-ok, .status-expected-error { color: var(--ok); }
.status-fail { color: var(--bad); }
.status-unsupported { color: var(--warn); }
.status-skipped, .status-not-run { color: var(--muted); }
.vendors { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 14px; }
.vendor { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
.outcome-fault { color: var(--bad); }
.outcome-ok { color: var(--ok); }
svg { display: block; }
svg text { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; fill: var(--fg); }
svg text.h { font-weight: 700; }
svg text.d { fill: var(--warn); }
svg text.m, svg text.muted { fill: var(--muted); }
svg text.leaf { fill: var(--ok); }
svg rect.box { fill: #fff; stroke: #9aa4b2; stroke-width: 1; rx: 4; }
svg .node.ctx rect.box { fill: #eef4ff; }
svg .node.pte rect.box { fill: #effaf2; }
svg .node.via rect.box { fill: #f6f6f6; stroke-dasharray: 4 3; }
svg .node.reg rect.box { fill: #f3f0ff; }
svg .node.fault rect.box { fill: #fdecea; stroke: var(--bad); }
svg .node.out rect.box { fill: #e7f6ec; stroke: var(--ok); }
svg .node.hit rect.box { fill: var(--hl); }
svg .table.on-path > rect.box { stroke: var(--path); stroke-width: 2; }
svg rect.hit { fill: var(--hl); stroke: var(--path); }
svg line.edge, svg path.edge { stroke: #8a94a6; fill: none; stroke-width: 1.2; }
svg path.edge.path { stroke: var(--path); stroke-width: 2.2; }
svg .arrowhead { fill: #8a94a6; }
details > summary { cursor: pointer; color: #2451a6; margin: 6px 0; }
dl.faults dt { font-family: ui-monospace, monospace; font-weight: 600; }
dl.faults dd { margin: 0 0 6px 1.5em; }
@media print { .vendors { display: block; } details { display: block; } }
`;
