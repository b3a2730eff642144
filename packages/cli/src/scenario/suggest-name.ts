import { didYouMean } from '../suggest.js';

/** The words of a key: `userPasid` → user, pasid; `bind-pgtable` → bind, pgtable. */
function words(key: string): string[] {
  return key
    .split(/[-_]|(?=[A-Z])/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/**
 * `; did you mean 'x'?` for a misspelt key or name: the one known key that has the word as one
 * of its words (`pasid` → `userPasid`), else the closest by spelling, else the one known key that
 * contains it or is contained in it. Empty if none fits.
 */
export function suggestName(word: string, known: readonly string[]): string {
  const w = word.toLowerCase();
  const part = known.filter((k) => k.toLowerCase() !== w && words(k).includes(w));
  if (part.length === 1) return `; did you mean '${part[0]}'?`;
  const close = didYouMean(word, known);
  if (close || w.length < 3) return close;
  const holding = known.filter((k) => k.length >= 3 && (k.toLowerCase().includes(w) || w.includes(k.toLowerCase())));
  return holding.length === 1 ? `; did you mean '${holding[0]}'?` : '';
}

/** The word a suggestion names (`; did you mean 'x'?` → x), if any. */
export function suggested(suggestion: string): string | undefined {
  return /'([^']*)'\?$/.exec(suggestion)?.[1];
}
