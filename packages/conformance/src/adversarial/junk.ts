import fc from 'fast-check';
import type { CaseDef, Caps, KitEnv } from '../types.js';
import { ConformanceFailure } from '../kit.js';
import { scaled } from './budget.js';
import { checkProperty } from './property.js';
import { Tally, reporting } from './tally.js';
import { callSpecs, type CallSpec, type JunkCtx } from './junk/calls.js';
import { junkContext, junkSources } from './junk/context.js';
import { probesOf, type Probe } from './junk/probes.js';
import { judgeProbe } from './junk/run.js';
import { JunkReport } from './junk/report.js';
import { JUNK, WHOLE } from './junk/values.js';

/** Random multi-point junk calls per case at the kit's default run count. */
const RANDOM = 150;

/** A random probe: several fields of one call at once, maybe an unknown key too. */
function randomProbe(specs: CallSpec[]): fc.Arbitrary<Probe> {
  return fc.record({ call: fc.nat({ max: specs.length - 1 }), picks: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }), extra: fc.boolean() }).map(({ call, picks, extra }) => {
    const spec = specs[call];
    const notes: string[] = [];
    return {
      spec,
      what: `${spec.name} with several junk arguments`,
      args: (c: JunkCtx, s) => {
        const args = spec.valid(c);
        notes.length = 0;
        spec.params.forEach((p, i) => {
          if ('one' in p) {
            if (picks[i % 4] % 3 === 0) return;
            const j = JUNK[p.one.kind][picks[i % 4] % JUNK[p.one.kind].length];
            args[i] = j.value(s);
            notes.push(`argument ${i + 1} = ${j.label}`);
            return;
          }
          const o = { ...(args[i] as Record<string, unknown>) };
          Object.entries(p.obj).forEach(([name, field], k) => {
            const pick = picks[(i + k) % 4] >> k;
            if (pick % 3 === 0) return;
            const j = JUNK[field.kind][pick % JUNK[field.kind].length];
            o[name] = j.value(s);
            notes.push(`${name} = ${j.label}`);
          });
          if (extra) o.bogus = 1;
          args[i] = notes.length === 0 && !extra ? WHOLE[picks[0] % WHOLE.length].value(s) : o;
        });
        // Every probe carries at least one junk argument: a call left all valid is no probe.
        const first = spec.params[0];
        if (notes.length === 0 && first !== undefined && 'one' in first) {
          const j = JUNK[first.one.kind][picks[0] % JUNK[first.one.kind].length];
          args[0] = j.value(s);
          notes.push(`argument 1 = ${j.label}`);
        }
        return args;
      },
    };
  });
}

function run(env: KitEnv, caps: Caps, tally: Tally): void {
  const sources = junkSources(env);
  let ctx = junkContext(env, caps);
  const specs = callSpecs(ctx.fd);
  const report = new JunkReport();
  for (const spec of specs) {
    for (const probe of probesOf(spec)) {
      tally.add('junk calls');
      const v = judgeProbe(ctx, sources, probe);
      if (!v) continue;
      report.add(probe, v);
      tally.add('violations');
      // The call changed the state: start again from a clean one.
      if (v.changed) ctx = junkContext(env, caps);
    }
  }
  // Random combinations, shrunk to a small one when they find something the sweep did not.
  try {
    checkProperty(
      randomProbe(specs),
      (probe) => {
        tally.add('junk calls');
        const v = judgeProbe(ctx, sources, probe);
        if (v?.changed) ctx = junkContext(env, caps);
        if (v && report.size === 0) throw new ConformanceFailure(v.text);
      },
      scaled(env, RANDOM),
      env.seed,
      { caseId: 'adv-junk', vendor: env.vendor },
    );
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    report.addText(text.startsWith('only ') ? 'leak' : text.startsWith('atomicity') ? 'atomicity' : 'arguments', text);
  }
  if (report.size > 0) throw new ConformanceFailure(report.message());
}

/**
 * Junk arguments: every fd command, device call, KVM call and VMM entry point
 * with wrong types, wrong shapes, missing fields, unknown keys and out-of-range values (undefined,
 * null, numbers, NaN, strings, symbols, arrays, bigints below 0 or at 2^64…). Only IoasidError
 * may come out, a refused call changes nothing, and nothing wrong is accepted.
 */
export const junkCase: CaseDef = {
  id: 'adv-junk',
  group: 'adversarial',
  title: 'adversarial: junk arguments to every command and call — only IoasidError, nothing changed, unknown keys refused',
  run(env, caps) {
    const tally = new Tally();
    return reporting(tally, () => run(env, caps, tally));
  },
};
