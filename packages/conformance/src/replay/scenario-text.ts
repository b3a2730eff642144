import type { Journal } from './journal.js';

/** Machine option keys a scenario's `machine:` section has fields for (the rest go under `options:`). */
const MACHINE_FIELDS = ['devices', 'hostMemory', 'guestMemory', 'guestHugePages'];
/** Options that cannot be written down (objects of the running process). */
const NOT_WRITTEN = ['vendor', 'container'];

export interface ScenarioHeader {
  caseId: string;
  vendor: string;
  /** How the failure was found (seed, path, shrinks). */
  found: string;
  /** The kit's failure message (first line). */
  failure: string;
}

/**
 * The journal as a scenario file (YAML; every value in flow style, strings JSON-quoted, bigints
 * as hex strings, which the scenario loader reads as numbers).
 */
export function scenarioText(j: Journal, h: ScenarioHeader): string {
  const steps = j.failedAt === undefined ? j.steps : j.steps.slice(0, j.failedAt + 1);
  const out: string[] = [
    `# The shrunk counterexample of ${h.caseId} on ${h.vendor} (${h.found}), as the calls the kit made.`,
    `# Replay: ioasid run <this file> --vendor ${h.vendor}   (with --plugin <module> for a plugin's vendor)`,
    j.failedAt !== undefined
      ? `# The last step fails as the kit's check did: ${oneLine(h.failure)}`
      : `# The kit's check that failed after the last step (no step states it): ${oneLine(j.unstated ?? h.failure)}`,
    `title: ${flow(`${h.caseId} counterexample on ${h.vendor}`)}`,
    `vendors: [${flow(h.vendor)}]`,
  ];
  const opts = j.machine ?? {};
  const machine = Object.entries(opts).filter(([k, v]) => MACHINE_FIELDS.includes(k) && v !== undefined);
  const options = Object.entries(opts).filter(([k, v]) => !MACHINE_FIELDS.includes(k) && !NOT_WRITTEN.includes(k) && v !== undefined);
  if (machine.length || options.length) {
    out.push('machine:');
    for (const [k, v] of machine) {
      if (k === 'devices' && Array.isArray(v)) {
        out.push('  devices:');
        for (const d of v) out.push(`    - ${flow(d)}`);
      } else out.push(`  ${k}: ${flow(v)}`);
    }
    if (options.length) out.push(`  options: ${flow(Object.fromEntries(options))}`);
  }
  out.push('steps:');
  for (const s of steps) {
    out.push(`  - ${s.op}: ${s.args === null ? 'null' : flow(s.args)}`);
    if (s.errno !== undefined) out.push(`    expect: ${s.errno}`);
    if (s.as !== undefined) out.push(`    as: ${s.as}`);
  }
  return `${out.join('\n')}\n`;
}

function oneLine(s: string): string {
  const line = s.split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** A YAML flow value. */
export function flow(v: unknown): string {
  if (typeof v === 'bigint') return `"0x${v.toString(16)}"`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${/^[A-Za-z_][\w-]*$/.test(k) ? k : JSON.stringify(k)}: ${flow(x)}`).join(', ')} }`;
}
