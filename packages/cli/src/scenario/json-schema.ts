import { z } from 'zod';
import { OP_DOCS } from './op-docs.js';
import { Bytes, ErrnoName, FaultExpect, Format, Num, OPS, OP_NAMES, Ref, Scenario, Step } from './schema.js';

/** Where the published schema lives in the package, and the name editors see. */
export const SCHEMA_FILE = 'scenarios/scenario.schema.json';

/** Value kinds that recur, each once under `definitions` with a description. */
function registry() {
  const reg = z.registry<{ id?: string; description?: string; title?: string }>();
  reg.add(Num, { id: 'number', description: 'an integer (4096, 0x1000, 0o17), a size with a binary unit (4K, 2M, 1G, 1T), or a $reference (with an optional + <number>)' });
  reg.add(Ref, { id: 'reference', description: 'a $reference to an earlier result kept with as: ($gpa, $info.formats.0, $buf.gpa + 0x10)' });
  reg.add(Bytes, { id: 'bytes', description: 'hex bytes ("de ad be ef"), { text: "..." }, { fill: 0xab, length: 16 }, or a $reference' });
  reg.add(Format, { id: 'format', description: 'a bindable format as GET_INFO lists it, a $reference to one, or { base: $ref, <param>: value }' });
  reg.add(FaultExpect, { id: 'fault', description: "the fault the IOMMU must report: true (any), a name, a list of names, or names per vendor (see 'ioasid info --faults')" });
  reg.add(ErrnoName, { id: 'errno', description: 'the errno the step must fail with' });
  reg.add(Step, { id: 'step', description: 'one operation, with expect, as, title and vendors if wanted' });
  for (const op of OP_NAMES) reg.add(OPS[op], { description: OP_DOCS[op] });
  const top = Scenario.shape;
  const machine = top.machine.unwrap().shape;
  const step = Step.shape;
  const docs: [z.ZodType, string][] = [
    [top.title, 'what the scenario shows (required)'],
    [top.flow, 'the flow of the 2021 /dev/ioasid proposal it plays, e.g. "5.1"'],
    [top.vendors, "only these vendors run it (the others report 'unsupported')"],
    [top.machine, "changes to each vendor's default machine"],
    [top.steps, 'the uAPI steps, run in order'],
    [machine.devices, 'the devices (replace the default dev0, dev1)'],
    [machine.hostMemory, 'host physical memory in bytes (default 64G)'],
    [machine.guestMemory, 'guest RAM (default 1G)'],
    [machine.options, 'vendor options for every vendor'],
    [machine.vendorOptions, 'vendor options per vendor name'],
    [step.expect, 'the step must fail with this errno; success is a failure'],
    [step.refusable, 'the uAPI lets a vendor refuse this step with this errno: if it does, the scenario is unsupported on that vendor'],
    [step.as, 'keep the result as $name'],
    [step.title, 'printed with the step'],
    [step.vendors, 'run the step only on these vendors (elsewhere it is skipped)'],
  ];
  for (const [schema, description] of docs) reg.add(schema, { description });
  return reg;
}

/**
 * The scenario format as JSON Schema (draft-07, which editors support best), made from the zod
 * schema the loader checks files with. What JSON Schema cannot say (a reference to a name an
 * earlier step defines, combinations of arguments) is left to the loader.
 */
export function scenarioJsonSchema(): Record<string, unknown> {
  const body = z.toJSONSchema(Scenario, {
    target: 'draft-07',
    io: 'input',
    metadata: registry(),
    // bigint is how the loader reads integers; in the file they are plain integers.
    unrepresentable: 'any',
    override: (ctx) => {
      const js = ctx.jsonSchema as Record<string, unknown>;
      if (ctx.zodSchema === Num) {
        // The loader's number is a bigint, a safe integer or a string: to an editor, an integer or a string.
        js.anyOf = [{ type: 'integer' }, (js.anyOf as object[])[2]];
      }
      if (ctx.zodSchema === Step) {
        // Exactly one operation per step.
        js.oneOf = OP_NAMES.map((op) => ({ required: [op] }));
      }
    },
  });
  const { $schema, ...rest } = plainRefs(body) as Record<string, unknown>;
  return {
    $schema,
    title: 'ioasid scenario',
    description: "A scenario for 'ioasid run': a machine and a list of /dev/ioasid uAPI steps (see scenarios/README.md of @ioasid/cli).",
    ...rest,
  };
}

/** The schema file's text, as committed. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}

/** `{ allOf: [{ $ref }] }` (how draft-07 wraps a reference that could carry siblings) → `{ $ref }`. */
function plainRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainRefs);
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && Array.isArray(o.allOf) && o.allOf.length === 1 && Object.keys(o.allOf[0] as object).join() === '$ref') return o.allOf[0];
  return Object.fromEntries(keys.map((k) => [k, plainRefs(o[k])]));
}
