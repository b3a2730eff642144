#!/usr/bin/env node
// Per-package npm consumption (issue 11): pack every package, install the tarballs into fresh
// projects outside the workspace, and use them the way a consumer would.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'ioasid-consumer-'));
const keep = process.argv.includes('--keep');
const packages = ['core', 'intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu', 'conformance', 'cli'];
const vendors = ['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu'];
const npmFlags = ['--no-audit', '--no-fund', '--loglevel=error'];

function run(cmd, args, cwd, extraEnv = {}) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } });
}
function step(name, fn) {
  process.stdout.write(`consumer: ${name} … `);
  const t = Date.now();
  try {
    fn();
  } catch (e) {
    process.stdout.write('FAILED\n');
    console.error(e.stdout ?? '', e.stderr ?? '', e.message);
    process.exitCode = 1;
    throw e;
  }
  process.stdout.write(`ok (${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
}

const tarballs = {};
try {
  step('npm pack every package', () => {
    mkdirSync(join(work, 'tarballs'));
    for (const p of packages) {
      const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', join(work, 'tarballs'), ...npmFlags], join(root, 'packages', p)));
      tarballs[p] = join(work, 'tarballs', info.filename);
      console.log(`\n  ${info.name}@${info.version}: ${info.filename} packed ${info.size} B, unpacked ${info.unpackedSize} B, ${info.entryCount} files`);
    }
  });

  const app = join(work, 'app');
  step('install the tarballs into a fresh project', () => {
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    run('npm', ['install', ...packages.map((p) => tarballs[p]), 'typescript@7.0.2', '@types/node@20', ...npmFlags], app);
  });

  const flow = (imp) => `
const { createMachine } = ${imp('@ioasid/core')};
for (const vendor of ${JSON.stringify(vendors)}) {
  ${imp('`@ioasid/${vendor}`', true)};
  const m = createMachine({ vendor });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'nic' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const va = m.vmm.mmap(0x10000n);
  fd.mapDma({ ioasid, iova: 0x100000n, vaddr: va, size: 0x10000n, read: true, write: true });
  dev.dmaWrite(0x100010n, new Uint8Array([1, 2, 3]));
  const back = m.vmm.read(va + 0x10n, 3);
  if (back.join() !== '1,2,3') throw new Error(vendor + ': DMA bytes did not arrive: ' + back.join());
  if (fd.unmapDma({ ioasid, all: true }) !== 0x10000n) throw new Error(vendor + ': unmap-all');
  fd.close();
  console.log(vendor + ': flow 5.1 ok');
}`;

  step('ESM import, flow 5.1 on every vendor', () => {
    writeFileSync(join(app, 'flow.mjs'), `const load = (n) => import(n);\n` + flow((n, dyn) => (dyn ? `await load(${n})` : `await load('${n}')`)));
    console.log('\n' + run('node', ['flow.mjs'], app).trim());
  });

  step('CommonJS require, flow 5.1 on every vendor', () => {
    writeFileSync(join(app, 'flow.cjs'), flow((n, dyn) => (dyn ? `require(${n})` : `require('${n}')`)));
    console.log('\n' + run('node', ['flow.cjs'], app).trim());
  });

  step('TypeScript consumer (module nodenext) type-checks against the shipped .d.ts', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false } }),
    );
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { createMachine, IoasidError, DmaFault, type IoasidInfo } from '@ioasid/core';
import '@ioasid/arm-smmuv3';
import { listCases, type ConformanceReport } from '@ioasid/conformance';
const m = createMachine({ vendor: 'arm-smmuv3' });
const info: IoasidInfo = m.device('dev0').getInfo();
const sizes: bigint[] = info.pageSizes;
const e: IoasidError | DmaFault | undefined = undefined;
const r: ConformanceReport | undefined = undefined;
console.log(sizes.length, listCases().length, e, r);
`,
    );
    run('npx', ['tsc', '-p', '.'], app);
  });

  step('each package README example runs as written', () => {
    for (const p of packages) {
      const readme = readFileSync(join(root, 'packages', p, 'README.md'), 'utf8');
      const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
      blocks.forEach((code, i) => {
        const file = join(app, `readme-${p}-${i}.mjs`);
        writeFileSync(file, code);
        run('node', [file], app);
      });
      console.log(`\n  ${p}: ${blocks.length} README example(s) ran`);
    }
  });

  step('npx ioasid info from the packed CLI', () => {
    const out = run('npx', ['ioasid', 'info', '--json'], app);
    const parsed = JSON.parse(out);
    if (!parsed || typeof parsed !== 'object') throw new Error('ioasid info --json printed no object');
  });

  step('ioasid new-vendor: the scaffolded plugin builds on its own and passes the kit', () => {
    // Generated by the packed CLI (so the shipped templates are what is tested), outside the
    // workspace, then built with its own tsconfig and tested with its own script.
    const vendor = 'scaffolded-iommu';
    const dir = join(work, vendor);
    const made = JSON.parse(run('npx', ['ioasid', 'new-vendor', vendor, '--dir', dir, '--json'], app));
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (made.vendor !== vendor || pkg.name !== vendor) throw new Error(`new-vendor wrote ${made.vendor} / ${pkg.name}`);
    if (readFileSync(join(dir, 'tsconfig.json'), 'utf8').includes('..')) throw new Error('the scaffold tsconfig.json reaches outside its folder');
    console.log(`\n  wrote ${made.files.length} files: ${made.files.map((f) => f.path).join(', ')}`);
    let t = Date.now();
    run('npm', ['install', '--save-dev', tarballs.core, tarballs.conformance, ...npmFlags], dir);
    console.log(`  npm install (packed core + conformance, typescript, vitest): ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    run('npm', ['test', '--', '--reporter=json', '--outputFile=vitest.json'], dir, { NO_COLOR: '1' });
    const report = JSON.parse(readFileSync(join(dir, 'vitest.json'), 'utf8'));
    const tests = report.testResults.flatMap((f) => f.assertionResults);
    const kit = tests.filter((a) => a.ancestorTitles.some((x) => x.startsWith('conformance:')));
    const unsupported = kit.filter((a) => /\(unsupported: /.test(a.title)).length;
    const failed = tests.filter((a) => a.status !== 'passed');
    if (failed.length > 0 || report.numFailedTests > 0) throw new Error(`scaffold tests failed: ${failed.map((a) => a.fullName).join('; ')}`);
    if (kit.length === 0) throw new Error('the scaffold ran no conformance case');
    console.log(`  npm test (tsc, then vitest): ${((Date.now() - t) / 1000).toFixed(1)} s; ${tests.length} tests passed, of them ${kit.length} kit cases: ${kit.length - unsupported} pass, ${unsupported} unsupported (refused correctly), 0 fail`);
    // Its README's usage example runs as written (the package imports itself by name).
    const blocks = [...readFileSync(join(dir, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
    if (blocks.length === 0) throw new Error('the scaffold README has no js example');
    blocks.forEach((code, i) => {
      writeFileSync(join(dir, `readme-${i}.mjs`), code);
      run('node', [`readme-${i}.mjs`], dir);
    });
  });

  step('examples/custom-vendor against the packed core and conformance only', () => {
    const ex = join(work, 'custom-vendor');
    cpSync(join(root, 'examples', 'custom-vendor'), ex, { recursive: true, filter: (s) => !/node_modules|dist|tsbuildinfo/.test(s) });
    const pkg = JSON.parse(readFileSync(join(ex, 'package.json'), 'utf8'));
    delete pkg.devDependencies;
    writeFileSync(join(ex, 'package.json'), JSON.stringify(pkg, null, 2));
    writeFileSync(join(ex, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, outDir: 'dist', rootDir: 'src', declaration: true, experimentalDecorators: true, emitDecoratorMetadata: true, types: ['node'] }, include: ['src'] }));
    run('npm', ['install', tarballs.core, tarballs.conformance, 'typescript@7.0.2', '@types/node@20', 'vitest@~4.1.0', ...npmFlags], ex);
    run('npx', ['tsc', '-p', '.'], ex);
    console.log('\n' + run('npx', ['vitest', 'run', '--root', '.'], ex, { NO_COLOR: '1' }).split('\n').filter((l) => /Tests|passed|failed/.test(l)).join('\n'));
  });
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
