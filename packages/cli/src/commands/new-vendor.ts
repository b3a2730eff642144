import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';

/** Where the plugin template lives: `templates/vendor/` of this package (from src/ and dist/ alike). */
export const VENDOR_TEMPLATE_DIR = fileURLToPath(new URL('../../templates/vendor/', import.meta.url));

/** A vendor name the scaffold accepts: lower-case words joined by single hyphens, like 'my-iommu'. */
const NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const MAX_NAME = 64;

/** Names the generated package could not use: the built-in vendors and core's test double. */
const TAKEN_VENDORS = new Set(['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu', 'mock']);
/** Machine options core reads itself: the vendor's own option key must not be one of them. */
const CORE_OPTION_KEYS = new Set(['vendor', 'devices', 'hostMemory', 'guestMemory', 'guestHugePages', 'memlockLimit', 'container']);
/** Type names the template imports, which a generated `<Pascal>Driver` / `<Pascal>Hardware` must not shadow. */
const TEMPLATE_TYPES = new Set(['IommuDriver', 'IommuDomain', 'IommuUnit']);

export interface ScaffoldFile {
  /** Path relative to the plugin folder, with '/' separators. */
  path: string;
  bytes: number;
}

export interface Scaffold {
  vendor: string;
  /** The generated package's name (the vendor name). */
  package: string;
  /** Absolute path of the plugin folder. */
  dir: string;
  /** The key of the vendor's own machine options (`createMachine({ vendor, <key>: { … } })`). */
  optionsKey: string;
  files: ScaffoldFile[];
}

function camelOf(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function pascalOf(name: string): string {
  const c = camelOf(name);
  return c[0].toUpperCase() + c.slice(1);
}

/** Why `name` cannot be a scaffolded vendor's name, or null. */
export function vendorNameProblem(name: string): string | null {
  if (!NAME.test(name)) return `the vendor name must be lower-case words joined by single hyphens, like 'my-iommu' (letters and digits, starting with a letter; got ${JSON.stringify(name)})`;
  if (name.length > MAX_NAME) return `the vendor name must be at most ${MAX_NAME} characters (got ${name.length})`;
  if (builtinModules.includes(name)) return `'${name}' is a Node.js built-in module, which npm does not accept as a package name; choose another name`;
  if (TAKEN_VENDORS.has(name)) return `'${name}' is already a vendor of the ioasid packages; choose another name`;
  if (CORE_OPTION_KEYS.has(camelOf(name))) return `'${name}' would give the vendor the option key '${camelOf(name)}', which core's createMachine() reads itself; choose another name`;
  if (TEMPLATE_TYPES.has(`${pascalOf(name)}Driver`)) return `'${name}' would name the driver class ${pascalOf(name)}Driver, which is one of core's types; choose another name`;
  return null;
}

/** The version ranges of @ioasid/core and @ioasid/conformance this CLI was published with. */
function ioasidRanges(): { core: string; conformance: string } {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  return { core: pkg.dependencies['@ioasid/core'], conformance: pkg.dependencies['@ioasid/conformance'] };
}

/** Every template file below `dir`, relative, with '/' separators. */
function templateFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...templateFiles(dir, rel));
    else if (entry.name.endsWith('.tmpl')) out.push(rel);
  }
  return out;
}

/** Where a template file goes: `.tmpl` dropped, and `gitignore` (npm would not ship `.gitignore`) dotted. */
function targetOf(template: string): string {
  const path = template.slice(0, -'.tmpl'.length);
  return path === 'gitignore' ? '.gitignore' : path;
}

/** Fills `{{key}}` placeholders; an unknown one is a bug in the template, not the user's mistake. */
function render(text: string, values: Record<string, string>, file: string): string {
  return text.replace(/\{\{([A-Za-z]+)\}\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template ${file}: unknown placeholder {{${key}}}`);
    return v;
  });
}

/**
 * Writes a standalone plugin package for vendor `name` into `dir` (which must be absent or
 * empty). Throws UsageError for a bad name or a folder in the way; returns what it wrote.
 */
export function scaffoldVendor(name: string, dir: string, templateDir = VENDOR_TEMPLATE_DIR): Scaffold {
  const problem = vendorNameProblem(name);
  if (problem) throw new UsageError(problem);
  const target = resolve(dir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new UsageError(`${dir} exists and is not a folder`);
    if (readdirSync(target).length > 0) throw new UsageError(`${dir} is not empty; give a new or empty folder with --dir`);
  }
  const ranges = ioasidRanges();
  const values = { name, camel: camelOf(name), Pascal: pascalOf(name), coreRange: ranges.core, conformanceRange: ranges.conformance };
  // Render everything before writing anything: a template problem leaves no half-made folder.
  const rendered = templateFiles(templateDir).map((t) => ({ path: targetOf(t), text: render(readFileSync(join(templateDir, t), 'utf8'), values, t) }));
  const files: ScaffoldFile[] = [];
  for (const f of rendered) {
    const abs = join(target, ...f.path.split('/'));
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, f.text, { flag: 'wx' });
    files.push({ path: f.path, bytes: Buffer.byteLength(f.text) });
  }
  return { vendor: name, package: name, dir: target, optionsKey: values.camel, files };
}

export function newVendorCommand(ctx: Context): Command {
  return new Command('new-vendor')
    .description('write a standalone IOMMU plugin package (its own package.json, tsconfig, a small working driver, a conformance test and a README) that builds on its own and passes the conformance kit as generated')
    .argument('<name>', "the vendor name, lower-case like 'my-iommu': the registered vendor, driver.vendor and the package name")
    .option('--dir <folder>', 'where to write it: a new or empty folder (default: ./<name>)')
    .option('--json', 'print what was written as JSON')
    .addHelpText(
      'after',
      `
Example:
  ioasid new-vendor my-iommu --dir ./my-iommu
  cd my-iommu && npm install && npm test     # builds with tsc, then runs the conformance kit
  npx ioasid --plugin ./dist/index.js conformance --vendor my-iommu`,
    )
    .action((name: string, opts: { dir?: string; json?: boolean }) => {
      const dir = opts.dir ?? name;
      if (opts.dir !== undefined && opts.dir.trim() === '') throw new UsageError('--dir needs a folder');
      const s = scaffoldVendor(name, dir);
      if (opts.json) {
        ctx.io.out(JSON.stringify(s, null, 2) + '\n');
      } else {
        const rel = relative(process.cwd(), s.dir);
        const shown = rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? s.dir : rel;
        const lines = s.files.map((f) => `  ${f.path.padEnd(24)} ${f.bytes} B`);
        ctx.io.out(
          `wrote the vendor plugin '${s.vendor}' to ${shown} (${s.files.length} files):\n${lines.join('\n')}\n` +
            `next:\n  cd ${shown} && npm install && npm test\n` +
            `then make src/ your hardware; the rules each hook follows are in node_modules/@ioasid/core/DRIVER-CONTRACT.md\n`,
        );
      }
      ctx.exitCode = EXIT_OK;
    });
}
