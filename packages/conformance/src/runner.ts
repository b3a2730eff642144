import type { CaseDef, CaseInfo, CaseResult, Caps, ConformanceReport, KitEnv } from './types.js';
import { CASES } from './cases.js';
import { DEFAULT_RUNS, Unsupported, probeCaps } from './kit.js';
import type { Counterexample, WithCounterexample } from './replay/property.js';

export function listCases(): CaseInfo[] {
  return CASES.map(({ id, title, group }) => ({ id, title, group }));
}

/** `Caused by:` lines for an error's cause chain (fast-check keeps a property's real failure there). */
function causeLines(e: unknown): string[] {
  const out: string[] = [];
  const first = e instanceof Error ? e.message.split('\n')[0] : '';
  let c = e instanceof Error ? e.cause : undefined;
  for (let depth = 0; c !== undefined && depth < 5; depth++) {
    // A property failure starts with its cause's message already.
    if (!(c instanceof Error && c.message === first)) out.push(`Caused by: ${c instanceof Error ? `${c.name}: ${c.message.split('\n').join('\n  ')}` : String(c)}`);
    c = c instanceof Error ? c.cause : undefined;
  }
  return out;
}

/** The error as text: its first line, then what caused it, then the rest of its message and its stack. */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const [first, ...rest] = e.message.split('\n');
  const stack = e.stack?.includes(e.message) ? e.stack.slice(e.stack.indexOf(e.message) + e.message.length) : (e.stack ?? '');
  return [first, ...causeLines(e), ...rest].join('\n') + (stack.trim() ? `\n${stack.replace(/^\n/, '')}` : '');
}

/** The counterexample a failing property attached to its error or to an error it caused. */
function counterexampleOf(e: unknown): Counterexample | undefined {
  for (let x = e, depth = 0; x !== undefined && x !== null && depth < 5; depth++) {
    const c = (x as WithCounterexample).counterexample;
    if (c) return c;
    x = x instanceof Error ? x.cause : undefined;
  }
  return undefined;
}

/** The counts a failing case attached to its error (see withDetail in adversarial/tally.ts). */
function detailOf(e: unknown): string | undefined {
  const d = typeof e === 'object' && e !== null ? (e as { detail?: unknown }).detail : undefined;
  return typeof d === 'string' && d !== '' ? d : undefined;
}

export function normalizeRuns(runs: number | undefined): number {
  if (runs === undefined) return DEFAULT_RUNS;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer (got ${String(runs)})`);
  return runs;
}

/** The status a case will have before it runs: the unsupported reason from GET_INFO, if any. */
export function unsupportedReason(def: CaseDef, caps: Caps): string | null {
  return def.needs ? def.needs(caps) : null;
}

/** Runs one case; `thrown` is what a test framework should rethrow for a failure. */
export function executeCase(def: CaseDef, env: KitEnv, caps: Caps | Error): { result: CaseResult; thrown?: unknown } {
  const t0 = performance.now();
  const base = { id: def.id, title: def.title, group: def.group, vendor: env.vendor };
  const done = (r: Omit<CaseResult, 'ms' | keyof CaseInfo | 'vendor'>, thrown?: unknown) => ({
    result: { ...base, ...r, ms: Math.round((performance.now() - t0) * 10) / 10 },
    thrown,
  });
  if (caps instanceof Error) return done({ status: 'fail', error: `GET_INFO probe failed: ${errorText(caps)}` }, caps);
  try {
    const reason = unsupportedReason(def, caps);
    if (reason !== null) {
      if (!def.rejects) throw new Error(`case ${def.id} has no rejection check for '${reason}'`);
      const amended = def.rejects(env, caps, reason);
      return done({ status: 'unsupported', reason: amended ?? reason });
    }
    const detail = def.run(env, caps);
    return done({ status: 'pass', ...(typeof detail === 'string' && detail !== '' ? { detail } : {}) });
  } catch (e) {
    if (e instanceof Unsupported) return done({ status: 'unsupported', reason: e.reason });
    const detail = detailOf(e);
    const c = counterexampleOf(e);
    const scenario = c?.scenario !== undefined ? { scenario: c.scenario, scenarioReplays: c.replays } : {};
    return done({ status: 'fail', error: errorText(e), ...(detail !== undefined ? { detail } : {}), ...scenario }, e);
  }
}

/** GET_INFO of the standard devices, or the error that prevented it. */
export function safeProbe(env: KitEnv): Caps | Error {
  try {
    return probeCaps(env);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

export interface ConformanceOptions {
  vendors: string[];
  runs?: number;
  machineOptions?: Record<string, unknown>;
  filter?: (id: string) => boolean;
  /** fast-check seed for every property (replays a failure the report printed). */
  seed?: number;
  onCase?: (r: CaseResult, done: number, total: number) => void;
}

/** The kit's cases one by one, vendor by vendor; the report comes back when the last is done. */
function* conformanceSteps(opts: ConformanceOptions): Generator<CaseResult, ConformanceReport> {
  const runs = normalizeRuns(opts.runs);
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer (got ${String(opts.seed)})`);
  const cases = CASES.filter((c) => !opts.filter || opts.filter(c.id));
  const total = opts.vendors.length * cases.length;
  const results: CaseResult[] = [];
  for (const vendor of opts.vendors) {
    const env: KitEnv = { vendor, runs, machineOptions: opts.machineOptions ?? {}, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
    const caps = safeProbe(env);
    for (const def of cases) {
      const { result } = executeCase(def, env, caps);
      results.push(result);
      opts.onCase?.(result, results.length, total);
      yield result;
    }
  }
  const counts = { pass: 0, fail: 0, unsupported: 0 };
  for (const r of results) counts[r.status]++;
  return { vendors: [...opts.vendors], runs, results, counts, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
}

/** Runs the kit on each vendor (synchronously, as everything in core is) and reports. */
export function runConformance(opts: ConformanceOptions): ConformanceReport {
  const steps = conformanceSteps(opts);
  for (;;) {
    const n = steps.next();
    if (n.done) return n.value;
  }
}

/**
 * The same run, giving the event loop a turn after every case: a signal handler (Ctrl-C in the
 * CLI) then runs between two cases instead of after the whole kit.
 */
export async function runConformanceAsync(opts: ConformanceOptions): Promise<ConformanceReport> {
  const steps = conformanceSteps(opts);
  for (;;) {
    const n = steps.next();
    if (n.done) return n.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
