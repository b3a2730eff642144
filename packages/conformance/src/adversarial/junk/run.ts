import { isDmaFault, isIoasidError } from '../../kit.js';
import { KitInterrupt } from '../api.js';
import { checkUnchanged, machineState } from '../state.js';
import type { JunkCtx } from './calls.js';
import type { Probe } from './probes.js';
import type { JunkSources } from './values.js';

/** Severity order of what a junk call can do wrong (the failure lists the worst first). */
export type JunkRule = 'leak' | 'atomicity' | 'arguments';

export interface Violation {
  rule: JunkRule;
  text: string;
  /** The machine's state may have changed (start the next call from a fresh one). */
  changed: boolean;
}

const same = (a: Map<string, string>, b: Map<string, string>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** What a junk call did wrong, or null: refused with IoasidError and nothing changed. */
export function judgeProbe(c: JunkCtx, s: JunkSources, p: Probe): Violation | null {
  const args = p.args(c, s);
  const before = machineState(c.m);
  let result: unknown;
  try {
    result = p.spec.call(c, args);
  } catch (e) {
    if (e instanceof KitInterrupt) throw e;
    if (isIoasidError(e)) {
      try {
        checkUnchanged(before, machineState(c.m), p.what, e.errno);
      } catch (f) {
        return { rule: 'atomicity', text: (f as Error).message, changed: true };
      }
      return null;
    }
    if (isDmaFault(e)) {
      attempt0(() => c.dev0.reset());
      return { rule: 'arguments', text: `arguments: ${p.what} went on the bus (DmaFault ${e.record.name}) instead of being refused with EINVAL`, changed: true };
    }
    const name = e instanceof Error ? e.name : typeof e;
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { rule: 'leak', text: `only IoasidError/DmaFault may leave the API: ${name} from ${p.what}: ${msg}`, changed: !same(before, machineState(c.m)) };
  }
  if (p.spec.query && (result === 0 || result === false)) return null;
  return { rule: 'arguments', text: `arguments: ${p.what} was accepted; a wrong or unknown argument must be refused with EINVAL`, changed: !same(before, machineState(c.m)) };
}

function attempt0(fn: () => void): void {
  try {
    fn();
  } catch {
    // a reset that fails is reported by the next DMA
  }
}
