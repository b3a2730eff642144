// Writes scenarios/scenario.schema.json, the scenario format as JSON Schema for editors, from the
// zod schema the loader uses (src/scenario/json-schema.ts). Build first (npx tsc -b packages/cli),
// then `node packages/cli/scripts/scenario-schema.mjs`; with --check it only says whether the
// committed file is up to date (exit 1 if not). test/scenario-json-schema.test.ts checks it too.
import { readFileSync, writeFileSync } from 'node:fs';
import { scenarioJsonSchemaText, SCHEMA_FILE } from '../dist/scenario/json-schema.js';

const file = new URL(`../${SCHEMA_FILE}`, import.meta.url);
const text = scenarioJsonSchemaText();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // missing: out of date
  }
  if (committed !== text) {
    console.error(`${SCHEMA_FILE} is out of date: run node packages/cli/scripts/scenario-schema.mjs`);
    process.exit(1);
  }
  console.log(`${SCHEMA_FILE} is up to date`);
} else {
  writeFileSync(file, text);
  console.log(`wrote ${SCHEMA_FILE}`);
}
