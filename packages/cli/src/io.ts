import { colourEnabled, painter, type Painter } from './output/colour.js';

/** Where a command writes, and whether it talks to a terminal. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal (progress bar instead of lines). */
  tty: boolean;
  paint: Painter;
  /** Width of the terminal (or COLUMNS), when known: wide tables fold to fit it. */
  columns?: number;
}

function terminalColumns(): number | undefined {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}

export function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    tty: process.stdout.isTTY === true,
    paint: painter(colourEnabled(process.stdout)),
    ...(terminalColumns() !== undefined ? { columns: terminalColumns() } : {}),
  };
}

/** An Io that collects what a command prints (tests). */
export function memoryIo(columns?: number): Io & { stdout: string; stderr: string } {
  const io = {
    ...(columns !== undefined ? { columns } : {}),
    stdout: '',
    stderr: '',
    tty: false,
    paint: painter(false),
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
  };
  return io;
}
