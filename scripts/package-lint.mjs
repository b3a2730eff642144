#!/usr/bin/env node
// publint --strict and attw (ESM-only profile) on every published package (issue 11).
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const packages = ['core', 'intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu', 'conformance', 'cli'];
let failed = 0;
for (const p of packages) {
  const cwd = join(root, 'packages', p);
  for (const [tool, args] of [
    ['publint', ['publint', 'run', '--strict']],
    ['attw', ['attw', '--pack', '.', '--profile', 'esm-only', '--format', 'table-flipped']],
  ]) {
    try {
      execFileSync('npx', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      console.log(`package-lint: @ioasid/${p} ${tool} clean`);
    } catch (e) {
      failed++;
      console.log(`package-lint: @ioasid/${p} ${tool} FAILED\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}
process.exit(failed ? 1 : 0);
