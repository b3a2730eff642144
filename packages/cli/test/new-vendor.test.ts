/**
 * `ioasid new-vendor`: usage errors and the files it writes. Building the generated package and
 * running the kit on it happens once, against the packed packages, in scripts/consumer-test.mjs.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import { vendorNameProblem } from '../src/commands/new-vendor.js';

async function cli(...args: string[]) {
  const io = memoryIo();
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'ioasid-new-vendor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const read = (...p: string[]) => readFileSync(join(...p), 'utf8');
const repoRoot = new URL('../../../', import.meta.url).pathname;

const EXPECTED_FILES = [
  '.gitignore',
  'package.json',
  'README.md',
  'src/driver.ts',
  'src/format.ts',
  'src/guest.ts',
  'src/hw.ts',
  'src/index.ts',
  'src/tables.ts',
  'test/hardware.test.ts',
  'test/kit.test.ts',
  'tsconfig.json',
];

describe('ioasid new-vendor: usage', () => {
  it.each([['My-IOMMU'], ['my_iommu'], ['my.iommu'], ['9lives'], ['double--hyphen'], ['trailing-'], ['a'.repeat(65)], ['']])('refuses the name %j with exit code 2', async (name) => {
    const r = await cli('new-vendor', name, '--dir', join(tmp, 'never'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^ioasid: the vendor name must be /);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('refuses built-in vendor and Node module names, core option keys and names that shadow core types', () => {
    expect(vendorNameProblem('intel-vtd')).toMatch(/already a vendor/);
    expect(vendorNameProblem('http')).toMatch(/Node\.js built-in module/);
    expect(vendorNameProblem('host-memory')).toMatch(/option key 'hostMemory'/);
    expect(vendorNameProblem('iommu')).toMatch(/IommuDriver, which is one of core's types/);
    expect(vendorNameProblem('my-iommu')).toBeNull();
    expect(vendorNameProblem('v2')).toBeNull();
  });

  it('refuses a folder that is not empty, and a file in the way, writing nothing', async () => {
    const full = join(tmp, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep.txt'), 'mine');
    const r = await cli('new-vendor', 'my-iommu', '--dir', full);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is not empty/);
    expect(existsSync(join(full, 'package.json'))).toBe(false);
    writeFileSync(join(tmp, 'a-file'), '');
    expect((await cli('new-vendor', 'my-iommu', '--dir', join(tmp, 'a-file'))).err).toMatch(/exists and is not a folder/);
  });

  it('needs a name; --help shows an example', async () => {
    expect((await cli('new-vendor')).code).toBe(2);
    const h = await cli('new-vendor', '--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/Usage: ioasid new-vendor \[options\] <name>/);
    expect(h.out).toMatch(/--dir <folder>/);
    expect(h.out).toMatch(/Example:\n {2}ioasid new-vendor my-iommu --dir \.\/my-iommu\n/);
    expect((await cli('--help')).out).toMatch(/new-vendor/);
  });
});

describe('ioasid new-vendor: what it writes', () => {
  const dir = join(tmp, 'acme-io');
  const made = cli('new-vendor', 'acme-io', '--dir', dir, '--json');

  it('--json lists every file written, with the vendor, folder and option key', async () => {
    const r = await made;
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out) as { vendor: string; package: string; dir: string; optionsKey: string; files: { path: string; bytes: number }[] };
    expect(j).toMatchObject({ vendor: 'acme-io', package: 'acme-io', dir, optionsKey: 'acmeIo' });
    expect(j.files.map((f) => f.path).sort()).toEqual([...EXPECTED_FILES].sort());
    for (const f of j.files) expect(Buffer.byteLength(read(dir, f.path)), f.path).toBe(f.bytes);
  });

  it('substitutes every placeholder: vendor name, option key, class names', async () => {
    await made;
    for (const f of EXPECTED_FILES) expect(read(dir, f), f).not.toMatch(/\{\{|\}\}/);
    const index = read(dir, 'src/index.ts');
    expect(index).toMatch(/vendor: 'acme-io',/);
    expect(index).toMatch(/machineOptions: \['acmeIo'\]/);
    expect(index).toMatch(/acmeIo\?: AcmeIoOptions;/);
    expect(index).toMatch(/create: \(ctx\) => new AcmeIoDriver\(ctx\)/);
    expect(read(dir, 'src/driver.ts')).toMatch(/readonly vendor = 'acme-io';/);
    expect(read(dir, 'src/driver.ts')).toMatch(/ctx\.options\.acmeIo \?\? \{\}/);
    const kit = read(dir, 'test/kit.test.ts');
    expect(kit).toMatch(/import 'acme-io';/);
    expect(kit).toMatch(/defineConformanceSuite\(\{ vendor: 'acme-io' \}\)/);
    expect(read(dir, 'README.md')).toMatch(/^# acme-io\n/);
    for (const f of EXPECTED_FILES) expect(read(dir, f), f).not.toMatch(/flat-iommu|@ioasid-example|FlatIommu|DESIGN §/);
  });

  it('package.json: standalone, peer + dev dependencies, the TypeScript and vitest this repository uses', async () => {
    await made;
    const pkg = JSON.parse(read(dir, 'package.json')) as Record<string, Record<string, string> & string>;
    const cliPkg = JSON.parse(read(repoRoot, 'packages/cli/package.json')) as { dependencies: Record<string, string>; files: string[] };
    const rootPkg = JSON.parse(read(repoRoot, 'package.json')) as { devDependencies: Record<string, string> };
    expect(pkg.name).toBe('acme-io');
    expect(pkg.type).toBe('module');
    expect(pkg.scripts).toMatchObject({ build: 'tsc -p .', test: expect.stringMatching(/vitest run/) });
    for (const dep of ['@ioasid/core', '@ioasid/conformance']) {
      expect(pkg.peerDependencies[dep]).toBe(cliPkg.dependencies[dep]);
      expect(pkg.devDependencies[dep]).toBe(cliPkg.dependencies[dep]);
    }
    expect(pkg.devDependencies.typescript).toBe(rootPkg.devDependencies.typescript);
    expect(pkg.devDependencies.vitest).toBe(rootPkg.devDependencies.vitest);
    expect(cliPkg.files).toContain('templates');
  });

  it('tsconfig.json is self-contained: no extends, no references, nothing outside the folder', async () => {
    await made;
    const text = read(dir, 'tsconfig.json');
    const ts = JSON.parse(text) as { extends?: string; references?: unknown; compilerOptions: Record<string, unknown>; include: string[] };
    expect(ts.extends).toBeUndefined();
    expect(ts.references).toBeUndefined();
    expect(text).not.toMatch(/\.\.\//);
    expect(ts.compilerOptions).toMatchObject({ module: 'NodeNext', strict: true, rootDir: 'src', outDir: 'dist', declaration: true });
    expect(ts.include).toEqual(['src']);
  });

  it('without --dir it writes ./<name> and prints the files and the next step', async () => {
    const cwd = process.cwd();
    const here = join(tmp, 'cwd');
    mkdirSync(here);
    process.chdir(here);
    try {
      const r = await cli('new-vendor', 'tiny-unit');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^wrote the vendor plugin 'tiny-unit' to tiny-unit \(12 files\):\n/);
      expect(r.out).toMatch(/^ {2}src\/driver\.ts +\d+ B$/m);
      expect(r.out).toMatch(/cd tiny-unit && npm install && npm test/);
      expect(existsSync(join(here, 'tiny-unit', 'src', 'index.ts'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });
});
