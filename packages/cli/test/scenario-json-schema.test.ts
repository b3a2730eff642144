import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILTIN_DIR } from '../src/scenario/builtins.js';
import { scenarioJsonSchema, scenarioJsonSchemaText } from '../src/scenario/json-schema.js';
import { Scenario } from '../src/scenario/schema.js';
import { validate } from './json-schema-lite.js';

const committed = readFileSync(new URL('../scenarios/scenario.schema.json', import.meta.url), 'utf8');
const schema = JSON.parse(committed) as Record<string, unknown>;

/** Valid by the JSON Schema (the file as an editor reads it: plain numbers). */
const jsonValid = (text: string) => validate(schema, parse(text));
/** Valid by the zod schema the loader uses (integers as bigint, as the loader reads them). */
const zodValid = (text: string) => Scenario.safeParse(parse(text, { intAsBigInt: true })).success;

describe('scenarios/scenario.schema.json (the scenario format for editors)', () => {
  it('is what the generator makes from the zod schema now (node packages/cli/scripts/scenario-schema.mjs rewrites it)', () => {
    expect(committed).toBe(scenarioJsonSchemaText());
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
  });

  it('accepts every built-in scenario', () => {
    const files = readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) expect([f, jsonValid(readFileSync(`${BUILTIN_DIR}/${f}`, 'utf8'))]).toEqual([f, []]);
  });

  it('refuses what the loader refuses, and accepts what it accepts', () => {
    const head = 'title: t\nsteps:\n';
    const cases: [string, boolean][] = [
      [`${head}  - alloc: {}\n    as: a\n  - map: { ioasid: $a, iova: 0x1000, size: 2M, read: true }\n`, true],
      [`${head}  - dma-read: { device: d, iova: $b.gpa + 0x10, expect: "de ad", fault: { arm-smmuv3: [F_TRANSLATION] } }\n`, true],
      [`${head}  - guest-write: { gpa: 0, bytes: { fill: 0xab, length: 16 } }\n  - close:\n`, true],
      [`${head}  - alloc: {}\n    expect: EINVAL\n    vendors: [intel-vtd]\n`, true],
      [`title: t\nmachine: { devices: [{ name: d, kind: mdev, parent: p }], guestMemory: 64M }\n${head.slice(9)}  - alloc: {}\n`, true],
      ['steps:\n  - alloc: {}\n', false], // no title
      [`${head}  - alloc: {}\n    free: { ioasid: 1 }\n`, false], // two operations
      [`${head}  - title: only a title\n`, false], // no operation
      [`${head}  - allocate: {}\n`, false],
      [`${head}  - attach: { device: d, ioasid: 1, pasid: 3 }\n`, false],
      [`${head}  - map: { ioasid: 1, iova: twelve, size: 4K }\n`, false],
      [`${head}  - map: { ioasid: 1, iova: 0 }\n`, false], // no size
      [`${head}  - alloc: {}\n    expect: ENOTHING\n`, false],
      [`${head}  - guest-write: { gpa: 0, bytes: "xyz" }\n`, false],
      [`${head}  - dma-read: { device: d, iova: 0, length: 4, fault: 5 }\n`, false],
      [`vendor: [x]\n${head}  - alloc: {}\n`, false],
      [`${head}  - mmap: { size: 4K, hugePages: 4M }\n`, false],
    ];
    for (const [text, ok] of cases) {
      expect([text, zodValid(text)]).toEqual([text, ok]);
      expect([text, jsonValid(text).length === 0]).toEqual([text, ok]);
    }
  });

  it('describes each operation for hover help', () => {
    const step = (scenarioJsonSchema().definitions as Record<string, { properties: Record<string, { description?: string }> }>).step;
    expect(step.properties.map.description).toMatch(/^MAP_DMA/);
    for (const [op, s] of Object.entries(step.properties)) expect([op, typeof s.description]).toEqual([op, 'string']);
  });
});
