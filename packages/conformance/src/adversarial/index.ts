import type { CaseDef } from '../types.js';
import { topologyCase, topologyRulesCase } from './topology.js';
import { exhaustionCase } from './exhaustion.js';
import { widthsCase } from './widths.js';
import { junkCase } from './junk.js';
import { hostileViewsCase } from './hostile-views.js';
import { dirtyIsolationCase } from './dirty-isolation.js';
import { nestedReachCase } from './nested-reach.js';

/**
 * The adversarial group: cases that look for isolation bugs by themselves (issue 15) — random
 * topologies, exhausted memory and IDs, addresses at every width, junk arguments, hostile
 * guest tables through every view, dirty logs across fds and software children, hostile guest
 * tables pointing anywhere over every nested route. Each runs a CI-sized budget that the runs option scales.
 */
export const ADVERSARIAL_CASES: readonly CaseDef[] = [topologyCase, topologyRulesCase, exhaustionCase, widthsCase, junkCase, hostileViewsCase, dirtyIsolationCase, nestedReachCase];
