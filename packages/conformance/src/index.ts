/**
 * @ioasid/conformance — the cross-architecture conformance kit: the proposal's scenarios, the
 * uAPI contract and properties, runnable on any registered vendor.
 */
export type { CaseGroup, CaseStatus, CaseInfo, CaseResult, ConformanceReport, Caps, CaseDef, KitEnv } from './types.js';
export { listCases, runConformance, runConformanceAsync, executeCase, unsupportedReason, type ConformanceOptions } from './runner.js';
export { defineConformanceSuite } from './suite.js';
export { CASES } from './cases.js';
export {
  DEFAULT_RUNS,
  KIT_DEVICES,
  KIT_GUEST_MEMORY,
  ConformanceFailure,
  Unsupported,
  expectErrno,
  expectDmaFault,
  expectOk,
  probeCaps,
} from './kit.js';
