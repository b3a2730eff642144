import type { CaseDef } from './types.js';
import { simpleCase } from './scenarios/simple.js';
import { multiIoasidCase } from './scenarios/multi-ioasid.js';
import { softwareNestingCase } from './scenarios/software-nesting.js';
import { hardwareNestingCase } from './scenarios/hardware-nesting.js';
import { enqcmdCase, vsvaCase } from './scenarios/vsva.js';
import { pageFaultCase } from './scenarios/page-fault.js';
import { pasidTableCase } from './scenarios/pasid-table.js';
import { getInfoCase } from './contracts/get-info.js';
import { claimsCase } from './contracts/claims.js';
import { dirtyCase } from './contracts/dirty.js';
import { errnoOrderCase } from './contracts/errno-order.js';
import { allocFreeCase, devicesCase, mapDmaCase } from './contracts/commands.js';
import { groupCase } from './contracts/group.js';
import { formatCase } from './contracts/format.js';
import { rangesCase } from './contracts/ranges.js';
import { cleanupCase } from './contracts/cleanup.js';
import { modelCase } from './properties/model.js';
import { isolationCase } from './properties/isolation.js';
import { atomicityCase } from './properties/atomicity.js';
import { invalidationCase } from './properties/invalidation.js';
import { hostileCase } from './properties/hostile.js';
import { dirtyPropertyCase } from './properties/dirty.js';
import { ADVERSARIAL_CASES } from './adversarial/index.js';

/** Every case, in report order. */
export const CASES: readonly CaseDef[] = [
  simpleCase,
  multiIoasidCase,
  softwareNestingCase,
  hardwareNestingCase,
  vsvaCase,
  enqcmdCase,
  pageFaultCase,
  pasidTableCase,
  getInfoCase,
  claimsCase,
  dirtyCase,
  errnoOrderCase,
  allocFreeCase,
  mapDmaCase,
  devicesCase,
  groupCase,
  formatCase,
  rangesCase,
  cleanupCase,
  modelCase,
  isolationCase,
  atomicityCase,
  invalidationCase,
  hostileCase,
  dirtyPropertyCase,
  ...ADVERSARIAL_CASES,
];
