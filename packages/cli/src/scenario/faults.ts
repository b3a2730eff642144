import type { VendorRegistration } from '@ioasid/core';
import { ScenarioError, type ScenarioProblem } from './error.js';
import type { LoadedScenario } from './load.js';
import { pathText } from './positions.js';
import { opOf } from './semantics.js';
import { suggestName } from './suggest-name.js';

/** A fault name a step expects, where it is in the file, and which vendors it must be a name of. */
interface Expected {
  name: string;
  path: PropertyKey[];
  /** Check against this vendor's catalogue only (the per-vendor form). */
  vendor?: string;
}

/** The fault names a `fault:` value writes: one, a list, or a map of vendor → one or a list. */
function expectedNames(fault: unknown, path: PropertyKey[]): Expected[] {
  if (typeof fault === 'string') return [{ name: fault, path }];
  if (Array.isArray(fault)) return fault.map((name, i) => ({ name: String(name), path: [...path, i] }));
  if (fault && typeof fault === 'object') {
    return Object.entries(fault).flatMap(([vendor, v]) =>
      expectedNames(v, [...path, vendor]).map((e) => ({ ...e, vendor })),
    );
  }
  return []; // true: any fault
}

/**
 * The fault names a scenario expects (`fault:` of dma-read, dma-write and enqcmd), checked
 * before anything runs against the fault catalogues of the registered vendors: a plain name
 * must be one some vendor the step runs on reports; in the per-vendor form, the key must be a
 * registered vendor and the name one of its own. A vendor that publishes no catalogue accepts any
 * name. Throws a ScenarioError listing every misspelt name, with a did-you-mean.
 */
export function checkScenarioFaults(sc: LoadedScenario, registered: readonly VendorRegistration[]): void {
  const byName = new Map(registered.map((r) => [r.vendor, r]));
  const problems: ScenarioProblem[] = [];
  sc.spec.steps.forEach((step, i) => {
    const { op, args } = opOf(step);
    if (args.fault === undefined) return;
    const only = (list: string[] | undefined, v: string) => list === undefined || list.includes(v);
    const runsOn = registered.filter((r) => only(sc.spec.vendors, r.vendor) && only(step.vendors, r.vendor));
    for (const e of expectedNames(args.fault, ['steps', i, op, 'fault'])) {
      const against = e.vendor === undefined ? runsOn : [byName.get(e.vendor)];
      const detail = problemWith(e, against, registered);
      if (detail === undefined) continue;
      // An unknown vendor is pointed at by its key; a name by its value.
      const badVendor = e.vendor !== undefined && against[0] === undefined;
      const at = (badVendor ? sc.locate?.(e.path.slice(0, -1), e.vendor) : sc.locate?.(e.path)) ?? { line: sc.stepLines[i] ?? 1, col: 1 };
      problems.push({ ...at, detail: `${pathText(e.path, sc.spec)}: ${detail}` });
    }
  });
  if (problems.length > 0) throw ScenarioError.of(sc.file, problems);
}

/** What is wrong with one expected name, or undefined when a vendor it is checked against reports it. */
function problemWith(e: Expected, against: (VendorRegistration | undefined)[], registered: readonly VendorRegistration[]): string | undefined {
  if (e.vendor !== undefined && against[0] === undefined) {
    const known = registered.map((r) => r.vendor);
    return `unknown vendor '${e.vendor}' (registered: ${known.join(', ') || 'none'})${suggestName(e.vendor, known)}`;
  }
  const vendors = against as VendorRegistration[];
  // A vendor without a catalogue may report any name: nothing to hold the name against.
  if (vendors.length === 0 || vendors.some((r) => r.faults === undefined)) return undefined;
  const names = [...new Set(vendors.flatMap((r) => r.faults!.map((f) => f.name)))];
  if (names.includes(e.name)) return undefined;
  const who = e.vendor !== undefined ? `${e.vendor} reports no fault named '${e.name}'` : `no vendor ${vendors.length === registered.length ? '' : `this step runs on (${vendors.map((r) => r.vendor).join(', ')}) `}reports a fault named '${e.name}'`;
  return `${who} (see 'ioasid info --faults')${suggestName(e.name, names)}`;
}
