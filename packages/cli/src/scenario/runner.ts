import { IoasidError, type IoasidFd, type Machine, type VendorRegistration } from '@ioasid/core';
import type { LoadedScenario } from './load.js';
import { scenarioMachine } from './machine.js';
import { OPERATIONS, type RunState } from './ops/index.js';
export type { RunState };
import { opOf } from './semantics.js';
import { CheckFailed, Unsupported, Vars } from './values.js';

export type StepStatus = 'ok' | 'expected-error' | 'unsupported' | 'skipped' | 'fail' | 'not-run';
export type ScenarioStatus = 'pass' | 'fail' | 'unsupported';

export interface StepReport {
  /** 1-based position in the file's steps. */
  index: number;
  line: number;
  op: string;
  title?: string;
  status: StepStatus;
  detail: string;
  /** The errno the step failed with (expected or not). */
  errno?: string;
  /** A failed step's place in the scenario file, `file:line`. */
  source?: string;
}

export interface ScenarioReport {
  scenario: string;
  title: string;
  file: string;
  vendor: string;
  status: ScenarioStatus;
  steps: StepReport[];
  /** Why the scenario did not run at all (machine creation failed). */
  error?: string;
}

export interface ScenarioRun {
  report: ScenarioReport;
  /** The machine and fd as the steps left them (for dump); absent when the machine failed. */
  state?: { machine: Machine; fd: IoasidFd; vars: Vars };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Sees each step just before it runs (its arguments resolved) and just after. */
export type StepObserver = (phase: 'before' | 'after', step: number, op: string, args: Record<string, unknown>, state: RunState) => void;

export interface RunOptions {
  /** Run steps 1..until only (1-based), leaving the machine as that step left it. */
  until?: number;
  /** Called around every step that runs; what it throws is ignored (it only watches). */
  observe?: StepObserver;
}

/** Runs every step of a scenario on one vendor; stops at the first failure or unsupported step. */
export function runScenario(sc: LoadedScenario, reg: VendorRegistration, options: RunOptions = {}): ScenarioRun {
  const report: ScenarioReport = { scenario: sc.name, title: sc.spec.title, file: sc.file, vendor: reg.vendor, status: 'pass', steps: [] };
  if (sc.spec.vendors && !sc.spec.vendors.includes(reg.vendor)) {
    report.status = 'unsupported';
    report.error = `the scenario is written for ${sc.spec.vendors.join(', ')}`;
    return { report };
  }
  let machine: Machine;
  try {
    machine = scenarioMachine(reg, sc.spec);
  } catch (e) {
    report.status = 'fail';
    report.error = `machine: ${message(e)}`;
    return { report };
  }
  const vars = new Vars();
  vars.set('guest', { vaddr: machine.guest.vaddr, size: machine.guest.size });
  vars.set('vendor', reg.vendor);
  const state: RunState = { machine, fd: machine.openIoasidFd(), vendor: reg.vendor, vars };
  let stopped: { why: 'fail' | 'unsupported'; at: number } | undefined;

  const steps = options.until === undefined ? sc.spec.steps : sc.spec.steps.slice(0, options.until);
  steps.forEach((step, i) => {
    const { op, args } = opOf(step);
    const r: StepReport = { index: i + 1, line: sc.stepLines[i] ?? 0, op, status: 'ok', detail: '', ...(step.title ? { title: step.title } : {}) };
    report.steps.push(r);
    if (stopped) {
      r.status = stopped.why === 'fail' ? 'not-run' : 'skipped';
      r.detail = stopped.why === 'fail' ? `after the failure of step ${stopped.at}` : `after unsupported step ${stopped.at}`;
      return;
    }
    if (step.vendors && !step.vendors.includes(reg.vendor)) {
      r.status = 'skipped';
      r.detail = `only for ${step.vendors.join(', ')}`;
      return;
    }
    const watch = (phase: 'before' | 'after'): void => {
      if (!options.observe) return;
      try {
        options.observe(phase, i + 1, op, vars.resolve(args) as Record<string, unknown>, state);
      } catch {
        // An observer only watches; a step's own outcome is what the report says.
      }
    };
    watch('before');
    const outcome = runStep(state, op, args, step.expect, step.refusable);
    watch('after');
    Object.assign(r, outcome.report);
    if (r.status === 'fail' && r.line > 0) r.source = `${sc.file}:${r.line}`;
    if (outcome.report.status === 'ok' && step.as !== undefined) vars.set(step.as, outcome.value, outcome.fromInfo);
    if (r.status === 'fail' || r.status === 'unsupported') stopped = { why: r.status, at: r.index };
  });
  if (report.steps.some((s) => s.status === 'fail')) report.status = 'fail';
  else if (report.steps.some((s) => s.status === 'unsupported')) report.status = 'unsupported';
  return { report, state: { machine, fd: state.fd, vars } };
}

function runStep(
  s: RunState,
  opName: string,
  rawArgs: Record<string, unknown>,
  expect: string | undefined,
  refusable?: string,
): { report: Pick<StepReport, 'status' | 'detail' | 'errno'>; value?: unknown; fromInfo?: boolean } {
  const op = OPERATIONS[opName as keyof typeof OPERATIONS];
  try {
    const args = s.vars.resolve(rawArgs) as Record<string, unknown>;
    if (expect === undefined) {
      const lacking = op.requires?.(s, args);
      if (lacking) return { report: { status: 'unsupported', detail: lacking } };
    }
    const res = op.run(s, args);
    if (expect !== undefined) return { report: { status: 'fail', detail: `expected ${expect}, but the step succeeded: ${res.detail}` } };
    return { report: { status: 'ok', detail: res.detail }, value: res.value, fromInfo: res.fromInfo };
  } catch (e) {
    if (e instanceof Unsupported) return { report: { status: 'unsupported', detail: e.message } };
    if (e instanceof IoasidError) {
      if (expect === e.errno) return { report: { status: 'expected-error', detail: e.message, errno: e.errno } };
      if (refusable === e.errno) return { report: { status: 'unsupported', detail: `the vendor refuses it, as the uAPI allows: ${e.message}`, errno: e.errno } };
      const want = expect ? `expected ${expect}, got ` : '';
      return { report: { status: 'fail', detail: `${want}${e.message}`, errno: e.errno } };
    }
    if (e instanceof CheckFailed) return { report: { status: 'fail', detail: e.message } };
    return { report: { status: 'fail', detail: `${e instanceof Error ? `${e.name}: ` : ''}${message(e)}` } };
  }
}
