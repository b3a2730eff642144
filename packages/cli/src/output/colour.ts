import { styleText } from 'node:util';

/** The few styles the command uses (node:util styleText names). */
type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan' | 'gray';

/**
 * Colour only on a terminal that shows it: never with NO_COLOR set (https://no-color.org) or on
 * TERM=dumb; FORCE_COLOR turns it on anywhere.
 */
export function colourEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export interface Painter {
  readonly enabled: boolean;
  paint(style: Style, text: string): string;
}

export function painter(enabled: boolean): Painter {
  // The gate above decides; styleText is not to look at the stream again.
  return { enabled, paint: (style, text) => (enabled ? styleText(style, text, { validateStream: false }) : text) };
}
