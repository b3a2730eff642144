import type { OpName } from '../schema.js';
import { dmaOps } from './dma.js';
import { memoryOps } from './memory.js';
import type { Op } from './types.js';
import { uapiOps } from './uapi.js';

export const OPERATIONS: Record<OpName, Op> = { ...uapiOps, ...memoryOps, ...dmaOps } as Record<OpName, Op>;
export type { Op, OpResult, RunState } from './types.js';
