// Writes the "Fault names by vendor" section of packages/cli/scenarios/README.md from the
// vendors' own fault catalogues (VendorRegistration.faults). `node scripts/fault-tables.mjs`
// rewrites it; packages/cli/test/fault-tables.test.ts fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { listVendors } from '@ioasid/core';
import '@ioasid/intel-vtd';
import '@ioasid/arm-smmuv3';
import '@ioasid/power-tce';

export const BEGIN = '<!-- fault tables: generated from each vendor\'s fault catalogue -->';
export const END = '<!-- end of fault tables -->';

export function faultTables() {
  const out = [BEGIN, ''];
  for (const r of listVendors()) {
    out.push(`### ${r.vendor}`, '', '| code | name | meaning |', '|---|---|---|');
    for (const f of r.faults ?? []) out.push(`| 0x${f.code.toString(16).padStart(2, '0')} | \`${f.name}\` | ${f.explain.replace(/\|/g, '\\|')} |`);
    out.push('');
  }
  out.push(END);
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('../packages/cli/scenarios/README.md', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  if (i < 0 || j < 0) throw new Error('README has no fault-table markers');
  writeFileSync(file, text.slice(0, i) + faultTables() + text.slice(j + END.length));
  console.log('fault tables written');
}
