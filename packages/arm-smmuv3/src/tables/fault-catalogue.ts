import type { FaultDescription } from '@ioasid/core';
import { ABORT_MEANING, EVENT, EVENT_MEANING, type EventName } from './events.js';

/**
 * Every fault an SMMUv3 DMA can end in, for `ioasid info --faults`: each event of the event
 * queue by its SMMUv3 §7.3 number, then the terminations the architecture records no event for
 * (code 0: ABORT, GBPA_ABORT), each with the one-line meaning its fault records carry.
 */
export const FAULT_CATALOGUE: readonly FaultDescription[] = [
  ...(Object.keys(EVENT) as EventName[]).map((name) => ({ code: EVENT[name], name, explain: EVENT_MEANING[name] })),
  ...(Object.keys(ABORT_MEANING) as (keyof typeof ABORT_MEANING)[]).map((name) => ({ code: 0, name, explain: ABORT_MEANING[name] })),
];
