/**
 * The plugin author's documents stay true: the conformance README lists exactly the kit's cases,
 * the driver contract ships in core and is linked from its README, and no shipped README sends a
 * user to a file they do not have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listCases } from '@ioasid/conformance';

const root = new URL('../../../', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), 'utf8');

describe("the plugin author's documents", () => {
  it("the conformance README's case table lists every case of listCases(), in order, with its group", () => {
    const readme = read('packages/conformance/README.md');
    const rows = [...readme.matchAll(/^\| `([^`]+)` \| (\w+) \| (.+) \|$/gm)].map((m) => ({ id: m[1], group: m[2], text: m[3] }));
    expect(rows.map((r) => `${r.id} ${r.group}`)).toEqual(listCases().map((c) => `${c.id} ${c.group}`));
    for (const r of rows) expect(r.text.length, r.id).toBeGreaterThan(40);
  });

  it('DRIVER-CONTRACT.md ships in @ioasid/core and its README links it', () => {
    const pkg = JSON.parse(read('packages/core/package.json')) as { files: string[] };
    expect(pkg.files).toContain('DRIVER-CONTRACT.md');
    expect(read('packages/core/README.md')).toMatch(/\]\(DRIVER-CONTRACT\.md\)/);
    const contract = read('packages/core/DRIVER-CONTRACT.md');
    // The hooks of driver.ts it must cover.
    for (const hook of ['capabilities', 'createDomain', 'allocFormatKeys', 'checkAttach', 'replacing', 'restoring', 'unmap', 'invalidate', 'bindPgtable', 'bindPasidTable', 'translate', 'walk', 'registers()', 'hardware', 'faults', 'resetDevice', 'pageResponse', 'destroy']) {
      expect(contract, hook).toContain(`\`${hook}`);
    }
  });

  it("the README of the packages and of the scaffold point at nothing outside what is installed", () => {
    for (const p of ['packages/conformance/README.md', 'packages/core/DRIVER-CONTRACT.md', 'packages/cli/templates/vendor/README.md.tmpl']) {
      expect(read(p), p).not.toMatch(/DESIGN §|in the repository|\]\(\.\.\/|examples\/custom-vendor/);
    }
  });
});
