import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the scenario README lists every fault name each built-in vendor reports', () => {
  it('its fault tables are the vendors\' catalogues (run node scripts/fault-tables.mjs after changing one)', async () => {
    const gen = (await import(new URL('../../../scripts/fault-tables.mjs', import.meta.url).href)) as { faultTables(): string; BEGIN: string; END: string };
    const readme = readFileSync(new URL('../scenarios/README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf(gen.BEGIN), readme.indexOf(gen.END) + gen.END.length);
    expect(section).toBe(gen.faultTables());
    for (const v of ['intel-vtd', 'arm-smmuv3', 'power-tce']) expect(section).toContain(`### ${v}`);
    expect(section).toMatch(/\| 0x10 \| `F_TRANSLATION` \| .+ \|/);
    expect(section).toMatch(/\| 0x\w+ \| `TCE_INVALID` \| .+ \|/);
    expect(section).toMatch(/\| 0x79 \| `SS_PAGING_ENTRY_P` \| .+ \|/);
  });
});
