/**
 * Suggesting the name a caller probably meant when it misspelt one: the known name closest to
 * the misspelling, when it is close enough to be a typo rather than another word.
 */

/** Edits (insert, delete, replace, swap of two neighbours) turning `a` into `b`. */
export function editDistance(a: string, b: string): number {
  // prev2, prev, cur: three rows of the optimal-string-alignment table.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1];
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (same ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest of `known` to `word` (case aside), or undefined when none is within a typo's reach. */
export function closestName(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const reach = Math.max(1, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestDistance = reach + 1;
  for (const k of known) {
    const d = editDistance(w, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** `; did you mean 'x'?` naming the closest known name, or '' when nothing is close. */
export function didYouMean(word: string, known: readonly string[]): string {
  const best = closestName(word, known);
  return best === undefined ? '' : `; did you mean '${best}'?`;
}
