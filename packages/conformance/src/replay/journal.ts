/**
 * The calls one property run makes, as scenario steps (the format `ioasid run` reads). A failing
 * property is run once more with a journal active; the kit's checks then write what they expected
 * onto the step that failed, so the steps end in the same failure when replayed.
 */

/** One scenario step: its operation, arguments, and the step-level keys (`expect`, `as`). */
export interface JournalStep {
  op: string;
  args: Record<string, unknown> | null;
  /** The errno the call failed with (the step's `expect:`). */
  errno?: string;
  /** The name its result is kept under (`as:`). */
  as?: string;
}

/** What a kit check wanted of the call it watched, written onto that call's step on a failure. */
export type Expectation =
  | { ok: true }
  | { errno: string }
  | { fault: true }
  | { bytes: Uint8Array }
  | { unmapped: bigint }
  | { dirtyPages: number[] };

export class Journal {
  readonly steps: JournalStep[] = [];
  /** Machine options of the run (set when the kit makes the machine). */
  machine?: Record<string, unknown>;
  /** Why the calls cannot be written as a scenario (the first reason found). */
  unreplayable?: string;
  /** The step the failing check was about, with its expectation applied (index into steps). */
  failedAt?: number;
  /** The kit's message for a check that no step can state. */
  unstated?: string;
  private readonly ioasidNames = new Map<number, string>();
  private readonly buffers: { base: bigint; size: bigint; name: string }[] = [];
  guestVaddr?: bigint;
  guestSize?: bigint;
  fds = 0;
  /** Recorded calls in progress (a call inside one is not a step of its own). */
  depth = 0;

  refuse(reason: string): void {
    this.unreplayable ??= reason;
  }

  add(step: JournalStep): JournalStep {
    this.steps.push(step);
    return step;
  }

  get mark(): number {
    return this.steps.length;
  }

  nameIoasid(id: number): string {
    const name = `ioasid${id}`;
    this.ioasidNames.set(id, name);
    return name;
  }

  /** An IOASID argument: the `$name` of the step that made it, or the number itself. */
  ioasid(id: unknown): unknown {
    const name = typeof id === 'number' ? this.ioasidNames.get(id) : undefined;
    return name === undefined ? id : `$${name}`;
  }

  nameBuffer(base: bigint, size: bigint): string {
    const name = `buf${this.buffers.length + 1}`;
    this.buffers.push({ base, size, name });
    return name;
  }

  /** A VMM address: `$bufN + off` inside an mmap of this run, `$guest.vaddr + off` in guest RAM. */
  vaddr(v: unknown): unknown {
    if (typeof v !== 'bigint') return v;
    const b = this.buffers.find((x) => v >= x.base && v < x.base + x.size);
    if (b) return v === b.base ? `$${b.name}` : `$${b.name} + 0x${(v - b.base).toString(16)}`;
    if (this.guestVaddr !== undefined && this.guestSize !== undefined && v >= this.guestVaddr && v < this.guestVaddr + this.guestSize) {
      return v === this.guestVaddr ? '$guest.vaddr' : `$guest.vaddr + 0x${(v - this.guestVaddr).toString(16)}`;
    }
    return v;
  }

  /**
   * A kit check failed: the step made since `mark` (the call inside the check), or the last step
   * when `mark` is undefined, is given what the check expected. Returns false when there was no
   * such step or the step cannot state that expectation.
   */
  expect(e: Expectation, mark?: number): boolean {
    const at = this.steps.length - 1;
    if (at < 0 || (mark !== undefined && at < mark)) return false;
    const s = this.steps[at];
    const args = s.args ?? {};
    const dma = s.op === 'dma-read' || s.op === 'dma-write';
    if ('ok' in e) {
      delete s.errno;
      if (dma) delete args.fault;
    } else if ('errno' in e) {
      s.errno = e.errno;
      if (dma) return false;
    } else if ('fault' in e) {
      if (!dma) return false;
      args.fault = true;
      delete args.expect;
    } else if ('bytes' in e) {
      if (s.op !== 'dma-read' && s.op !== 'vmm-read' && s.op !== 'guest-read') return false;
      delete args.fault;
      args.expect = hexBytes(e.bytes);
      args.length = e.bytes.length;
    } else if ('unmapped' in e) {
      if (s.op !== 'unmap') return false;
      args.bytes = e.unmapped;
    } else {
      if (s.op !== 'get-dirty-bitmap') return false;
      args.expect = e.dirtyPages;
    }
    this.failedAt = at;
    return true;
  }
}

export function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

let active: Journal | undefined;

/** The journal of the run being recorded, if any. */
export function activeJournal(): Journal | undefined {
  return active;
}

/** Runs `fn` with `j` recording every call the kit's machines see. */
export function recording<T>(j: Journal, fn: () => T): T {
  const before = active;
  active = j;
  try {
    return fn();
  } finally {
    active = before;
  }
}

/** Tells the active journal (if any) what a failing check expected of the call it watched. */
export function expectedOfCall(e: Expectation, mark?: number): void {
  active?.expect(e, mark);
}

/** The active journal's step count (a mark for expectedOfCall), or undefined. */
export function journalMark(): number | undefined {
  return active?.mark;
}

/** A failing check that no step states: the scenario ends with it as a comment. */
export function unstatedCheck(message: string): void {
  if (active && active.failedAt === undefined) active.unstated ??= message;
}
