/** ANSI styles (open, close) — the few the command uses. */
const STYLES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const;

type Style = keyof typeof STYLES;

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function colourEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export interface Painter {
  readonly enabled: boolean;
  paint(style: Style, text: string): string;
}

export function painter(enabled: boolean): Painter {
  return {
    enabled,
    paint: (style, text) => (enabled ? `\u001b[${STYLES[style][0]}m${text}\u001b[${STYLES[style][1]}m` : text),
  };
}
