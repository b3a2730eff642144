import type { CallSpec, JunkCtx, Param } from './calls.js';
import { JUNK, UNDEFINED, WHOLE, type Junk, type JunkSources } from './values.js';

/** One junk call: which argument (or field) got which junk. */
export interface Probe {
  spec: CallSpec;
  /** "MAP_DMA with iova = Symbol(junk)". */
  what: string;
  args(c: JunkCtx, s: JunkSources): unknown[];
}

function replaced(spec: CallSpec, i: number, make: (valid: unknown, s: JunkSources) => unknown): Probe['args'] {
  return (c, s) => {
    const args = spec.valid(c);
    args[i] = make(args[i], s);
    return args;
  };
}

function argName(spec: CallSpec, i: number): string {
  return spec.params.length === 1 ? 'its argument' : `argument ${i + 1}`;
}

/** Every single-point junk of one call: each argument whole, each field, a missing field, an unknown key. */
export function probesOf(spec: CallSpec): Probe[] {
  const out: Probe[] = [];
  spec.params.forEach((p: Param, i) => {
    if ('one' in p) {
      const junk: Junk[] = p.one.optional ? JUNK[p.one.kind] : [UNDEFINED, ...JUNK[p.one.kind]];
      for (const j of junk) out.push({ spec, what: `${spec.name} with ${argName(spec, i)} = ${j.label}`, args: replaced(spec, i, (_v, s) => j.value(s)) });
      return;
    }
    for (const j of p.optional ? WHOLE : [UNDEFINED, ...WHOLE]) {
      out.push({ spec, what: `${spec.name} with ${argName(spec, i)} = ${j.label}`, args: replaced(spec, i, (_v, s) => j.value(s)) });
    }
    for (const [name, field] of Object.entries(p.obj)) {
      const junk = field.optional ? JUNK[field.kind] : [UNDEFINED, ...JUNK[field.kind]];
      for (const j of junk) {
        out.push({ spec, what: `${spec.name} with ${name} = ${j.label}`, args: replaced(spec, i, (v, s) => ({ ...(v as object), [name]: j.value(s) })) });
      }
      if (field.kind === 'format') {
        out.push({ spec, what: `${spec.name} with a ${name} that has an unknown key 'bogus'`, args: replaced(spec, i, (v) => ({ ...(v as object), [name]: { ...((v as Record<string, object>)[name] ?? {}), bogus: 1 } })) });
      }
      if (!field.optional) {
        out.push({
          spec,
          what: `${spec.name} without ${name}`,
          args: replaced(spec, i, (v) => {
            const o = { ...(v as Record<string, unknown>) };
            delete o[name];
            return o;
          }),
        });
      }
    }
    out.push({ spec, what: `${spec.name} with an unknown key 'bogus'`, args: replaced(spec, i, (v) => ({ ...(v as object), bogus: 1 })) });
    out.push({ spec, what: `${spec.name} with an unknown key 'bogus' = {}`, args: replaced(spec, i, (v) => ({ ...(v as object), bogus: {} })) });
  });
  return out;
}
