import { expect } from 'vitest';
import { ScenarioError, parseScenario } from '../src/scenario/load.js';

/** The ScenarioError that parsing `text` (as bad.yaml) throws; fails the test if it parses. */
export function errorOf(text: string): ScenarioError {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

/** The start of a scenario file whose steps the test appends. */
export const head = 'title: t\nsteps:\n';
