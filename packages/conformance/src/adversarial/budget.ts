import { DEFAULT_RUNS } from '../kit.js';
import type { KitEnv } from '../types.js';

/**
 * The adversarial group's budget: each case states what it does at the kit's default run count
 * (a CI-sized run of a few seconds per case), and `--runs` / the kit's runs option scales it.
 */
export function scaled(env: KitEnv, atDefault: number, min = 1): number {
  return Math.max(min, Math.round((atDefault * env.runs) / DEFAULT_RUNS));
}

/** How many shrink steps a failing property may take (each step replays a whole machine). */
export const MAX_SHRINKS = 60;
