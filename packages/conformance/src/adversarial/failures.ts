import { ConformanceFailure } from '../kit.js';
import { KitInterrupt } from './api.js';

/**
 * The violations of a case whose parts are independent (phases, host sizes, scenarios): each
 * part runs even when another failed, and the case fails listing them all, the first one on the
 * first line.
 */
export class Failures {
  private readonly list: string[] = [];

  run(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConformanceFailure) this.list.push(e.message);
      else if (e instanceof KitInterrupt) this.list.push(`views: ${e.message}`);
      else this.list.push(`only IoasidError/DmaFault may leave the API (or a kit guard missed it): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
  }

  get size(): number {
    return this.list.length;
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const [first, ...rest] = this.list;
    const indent = (s: string) => s.split('\n').join('\n    ');
    throw new ConformanceFailure(rest.length ? `${first}\n  also:\n  ${rest.map(indent).join('\n  ')}` : first);
  }
}
