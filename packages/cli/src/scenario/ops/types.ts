import type { IoasidFd, Machine } from '@ioasid/core';
import type { Vars } from '../values.js';

/** What the steps of one scenario run share. */
export interface RunState {
  machine: Machine;
  fd: IoasidFd;
  vendor: string;
  vars: Vars;
}

export type Args = Record<string, unknown>;

export interface OpResult {
  /** What happened, for the report (one line). */
  detail: string;
  /** The value `as: name` keeps. */
  value?: unknown;
  /** The value is a GET_INFO result (a missing entry in it means "unsupported"). */
  fromInfo?: boolean;
}

export interface Op {
  /** Why this vendor cannot run the step (a capability GET_INFO lacks), or undefined. */
  requires?(s: RunState, a: Args): string | undefined;
  run(s: RunState, a: Args): OpResult;
}
