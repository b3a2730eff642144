import { ConformanceFailure } from '../kit.js';

/**
 * What an adversarial case did (sequences run, DMAs checked, probes, operations until an errno):
 * the case result's detail line, on a pass and on a failure alike.
 */
export class Tally {
  private readonly counts = new Map<string, number>();
  private readonly notes: string[] = [];

  add(what: string, n = 1): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + n);
  }

  get(what: string): number {
    return this.counts.get(what) ?? 0;
  }

  /** A free-form line ("VMM touches: 61234 pages, then ENOMEM"). */
  note(text: string): void {
    this.notes.push(text);
  }

  text(): string {
    const counts = [...this.counts].map(([k, n]) => `${n} ${k}`).join(', ');
    return [counts, ...this.notes].filter((s) => s !== '').join('; ');
  }
}

/** Attaches `detail` to a thrown value (the runner reports it next to the error). */
export function withDetail(e: unknown, detail: string): unknown {
  const err = e instanceof Error ? e : new ConformanceFailure(String(e));
  if ((err as { detail?: unknown }).detail === undefined) (err as { detail?: string }).detail = detail;
  return err;
}

/** Runs a case body with its tally; returns the detail line, or rethrows with it attached. */
export function reporting(t: Tally, body: () => void): string {
  try {
    body();
  } catch (e) {
    throw withDetail(e, t.text());
  }
  return t.text();
}
