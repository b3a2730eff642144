import { cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IoasidError, createMachine, findVendor, otherCoreCopies, registerVendor, type MachineContext, type VendorRegistration } from '../src/index.js';
import { MockDriver } from './mock-driver.js';
import { expectErrno } from './helpers.js';

const create = (ctx: MachineContext) => new MockDriver(ctx);

describe('vendor registration is checked when it happens, not at first use (issue 19)', () => {
  it('refuses a registration with neither or both of create and driver, a bad name or description, or malformed extras', () => {
    const base = { vendor: 'shape-test', description: 'a test vendor' };
    expectErrno(() => registerVendor({ ...base } as VendorRegistration), 'EINVAL', /give exactly one of create .* got neither/);
    expectErrno(() => registerVendor({ ...base, create, driver: MockDriver as never }), 'EINVAL', /got both/);
    expectErrno(() => registerVendor({ ...base, create: 'x' as never }), 'EINVAL', /create must be a function/);
    expectErrno(() => registerVendor({ ...base, vendor: 'Has Spaces', create }), 'EINVAL', /vendor must be a lower-case name like 'my-iommu'.*"Has Spaces"/);
    expectErrno(() => registerVendor({ ...base, vendor: '', create }), 'EINVAL', /vendor must be/);
    expectErrno(() => registerVendor({ ...base, description: ' ', create }), 'EINVAL', /description must be a non-empty string/);
    expectErrno(() => registerVendor({ ...base, create, defaultMachine: [] as never }), 'EINVAL', /defaultMachine/);
    expectErrno(() => registerVendor({ ...base, create, hardware: {} as never }), 'EINVAL', /hardware must be a function/);
    expectErrno(() => registerVendor({ ...base, create, faults: [{ code: 1, name: 'X', explain: '' }] }), 'EINVAL', /faults\[0\]/);
    expectErrno(() => registerVendor({ ...base, create, faults: [{ code: 1, name: 'X', explain: 'a' }, { code: 2, name: 'X', explain: 'b' }] }), 'EINVAL', /faults\[1\]: the name X is listed twice/);
    expectErrno(() => registerVendor(null as never), 'EINVAL', /expected a registration object/);
    expectErrno(() => findVendor('shape-test'), 'ENODEV');
  });

  it('the same registration twice is a no-op; another one under a taken name is EEXIST', () => {
    const reg: VendorRegistration = { vendor: 'twice', description: 'registered twice', create: (ctx) => Object.defineProperty(new MockDriver(ctx), 'vendor', { value: 'twice' }) };
    registerVendor(reg);
    registerVendor(reg);
    expect(findVendor('twice')).toBe(reg);
    expectErrno(() => registerVendor({ ...reg }), 'EEXIST', /registerVendor\('twice'\): a different registration already uses that name/);
  });

  it('a driver that calls itself by another name than its registration is refused at createMachine', () => {
    registerVendor({ vendor: 'mismatch', description: 'driver says mock', create });
    expectErrno(() => createMachine({ vendor: 'mismatch' }), 'EINVAL', /vendor 'mismatch': its registration built a driver that calls itself 'mock'/);
  });

  it('IoasidError.code is the errno name as Node system errors have it; the number is errnoNumber', () => {
    const e = new IoasidError('ENOENT', 'x');
    expect([e.code, e.errno, e.errnoNumber]).toEqual(['ENOENT', 'ENOENT', 2]);
  });

  it('a vendor registered into another copy of core is named with both copies and the fix', async () => {
    // A plugin that ships its own node_modules/@ioasid/core (and its own tsyringe): the built core
    // copied into a folder of its own, as npm would install it without deduplication.
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'ioasid-core-copy-'));
    const core = join(dir, 'node_modules/@ioasid/core');
    mkdirSync(core, { recursive: true });
    cpSync(join(root, 'packages/core/dist'), join(core, 'dist'), { recursive: true });
    writeFileSync(join(core, 'package.json'), JSON.stringify({ name: '@ioasid/core', type: 'module', exports: './dist/index.js' }));
    for (const dep of ['tsyringe', 'reflect-metadata', 'tslib']) {
      if (existsSync(join(root, 'node_modules', dep))) cpSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), { recursive: true, dereference: true });
    }
    const second = (await import(pathToFileURL(join(core, 'dist/index.js')).href)) as typeof import('../src/index.js');
    expect(otherCoreCopies().map((c) => c.url)).toContain(pathToFileURL(join(core, 'dist/')).href);
    second.registerVendor({ vendor: 'radix2', description: 'in the other copy', create: () => ({}) as never });
    expect(second.findVendor('radix2').vendor).toBe('radix2');
    let caught: unknown;
    try {
      findVendor('radix2');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(IoasidError);
    expect((caught as IoasidError).errno).toBe('ENODEV');
    expect((caught as Error).message).toMatch(/vendor 'radix2' registered with another copy of @ioasid\/core \(file:.*ioasid-core-copy-.*\), not the one this program uses \(file:.*\): the plugin must take @ioasid\/core as a peerDependency/);
  });
});
