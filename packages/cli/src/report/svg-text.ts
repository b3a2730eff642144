/** Small SVG helpers: escaping, monospace text measure, wrapping. */

export const CHAR_W = 7.2;
export const LINE_H = 15;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const hex = (v: bigint): string => `${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}`;

/** Splits `words` into lines of at most `width` characters (a word longer than that gets its own line). */
export function wrap(words: string[], width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

/** A line of text; `cls` styles it from the page's stylesheet. */
export function text(x: number, y: number, s: string, cls = ''): string {
  return `<text x="${x}" y="${y}"${cls ? ` class="${cls}"` : ''}>${esc(s)}</text>`;
}

export function rect(x: number, y: number, w: number, h: number, cls: string, extra = ''): string {
  return `<rect x="${x}" y="${y}" width="${w}" height="${h}" class="${cls}"${extra}/>`;
}
