import type { Probe } from './probes.js';
import type { JunkRule, Violation } from './run.js';

const ORDER: Record<JunkRule, number> = { leak: 0, atomicity: 1, arguments: 2 };
/** Lines of the failure after the first. */
const SHOWN = 16;

/** The violations of the junk case, the worst first, accepted junk grouped per call. */
export class JunkReport {
  private readonly items: { rule: JunkRule; call: string; what: string; text: string }[] = [];

  add(p: Probe, v: Violation): void {
    this.items.push({ rule: v.rule, call: p.spec.name, what: p.what, text: v.text });
  }

  /** A violation found by the random part (already a full message). */
  addText(rule: JunkRule, text: string): void {
    this.items.push({ rule, call: 'random', what: text, text });
  }

  get size(): number {
    return this.items.length;
  }

  /** One line per (rule, call): the first violation in full, then the other junk that did the same. */
  lines(): string[] {
    const sorted = [...this.items].sort((a, b) => ORDER[a.rule] - ORDER[b.rule]);
    const groups = new Map<string, typeof sorted>();
    for (const it of sorted) {
      const key = it.call === 'random' ? `${it.rule}\u0000${it.text}` : `${it.rule}\u0000${it.call}`;
      const g = groups.get(key) ?? [];
      g.push(it);
      groups.set(key, g);
    }
    return [...groups.values()].map((g) => {
      if (g.length === 1) return g[0].text;
      const others = g.slice(1).map((it) => it.what.replace(`${it.call} with `, '').replace(`${it.call} `, ''));
      return `${g[0].text} — and ${others.length} more to ${g[0].call}: ${others.slice(0, 5).join('; ')}${others.length > 5 ? '; …' : ''}`;
    });
  }

  message(): string {
    const lines = this.lines();
    const rest = lines.slice(1, SHOWN + 1);
    const more = lines.length > SHOWN + 1 ? `\n  … and ${lines.length - SHOWN - 1} more` : '';
    return `${lines[0]}${rest.length ? `\n  also:\n  ${rest.join('\n  ')}` : ''}${more}`;
  }
}
