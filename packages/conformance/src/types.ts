import type { GuestKernelHelpers, IoasidInfo } from '@ioasid/core';

export type CaseGroup = 'scenario' | 'contract' | 'property' | 'adversarial';
export type CaseStatus = 'pass' | 'fail' | 'unsupported';

export interface CaseInfo {
  id: string;
  title: string;
  group: CaseGroup;
}

export interface CaseResult extends CaseInfo {
  vendor: string;
  status: CaseStatus;
  /** Why the case is unsupported (the capability GET_INFO does not claim). */
  reason?: string;
  /** What failed (message and stack). */
  error?: string;
  /** What the case did, when it says (e.g. "12 sequences, 4810 DMAs checked"); also on a failure. */
  detail?: string;
  /**
   * A failing property's shrunk counterexample as a scenario file (`ioasid run <file> --vendor
   * <vendor>` replays it); `scenarioReplays` is true when its last step states the failing check.
   */
  scenario?: string;
  scenarioReplays?: boolean;
  ms: number;
}

export interface ConformanceReport {
  vendors: string[];
  runs: number;
  results: CaseResult[];
  counts: { pass: number; fail: number; unsupported: number };
  /** The fast-check seed the run was given, when one was. */
  seed?: number;
}

/** Where a case runs: the vendor, the property run count and the user's machine options. */
export interface KitEnv {
  vendor: string;
  runs: number;
  machineOptions: Record<string, unknown>;
  /** fast-check seed every property of the run uses (unset: a fresh one each run). */
  seed?: number;
}

/** GET_INFO of the kit's standard devices on a fresh machine (see KIT_DEVICES). */
export interface Caps {
  /** An ordinary pdev ('dev0'). */
  dev: IoasidInfo;
  /** A pdev with PRI ('pri0'). */
  pri: IoasidInfo;
  /** A PASID-tagged mdev ('md0'), when the vendor can describe one. */
  md?: IoasidInfo;
  /** An ENQCMD-capable mdev ('wq0'). */
  wq?: IoasidInfo;
  /** The vendor's guest-kernel helpers (machine.driver.guest). */
  guest?: GuestKernelHelpers;
  /** A 'map' IOASID took a pdev vPASID attach (true), or what refused it. */
  pasidMapAttach: true | string;
  /** A 'map' IOASID took an mdev (host PASID) attach (true), or what refused it. */
  mdevAttach: true | string;
  /**
   * A 'user-pgtable' child took a pdev vPASID attach (true), or what refused it: where the
   * hardware walks a PASID table by guest-physical address (SMMUv3 CDs, RISC-V PDTs under a
   * G-stage) the kernel cannot own one without mapping it into the device's stage 2, and PASIDs
   * go through the guest's own table (BIND_PASID_TABLE) instead.
   */
  pasidBoundAttach: true | string;
}

/**
 * One conformance case. `needs` reads GET_INFO: null when the vendor claims what the case
 * exercises, else the reason; then `rejects` proves the vendor refuses the command with the
 * right errno. A vendor that claims a capability gets `run`, and any failure there is a failure.
 */
export interface CaseDef extends CaseInfo {
  needs?(caps: Caps): string | null;
  /** Runs the case; may return a detail line (counts of what it did) for the result. */
  run(env: KitEnv, caps: Caps): void | string;
  /** Checks the rejection; may return an amended reason (e.g. when a check could not be made). */
  rejects?(env: KitEnv, caps: Caps, reason: string): string | void;
}
