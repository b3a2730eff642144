import cliProgress from 'cli-progress';

/** Reports "done of total" as a bar on a terminal and as one plain line per step otherwise. */
export interface Progress {
  tick(done: number, total: number, line: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Where the bar goes (a terminal); cli-progress redraws it in place. */
  barStream?: NodeJS.WriteStream;
  /** Where plain lines go when there is no terminal. */
  write: (text: string) => void;
  tty: boolean;
  /** No output at all (JSON mode). */
  quiet?: boolean;
}

export function createProgress(o: ProgressOptions): Progress {
  if (o.quiet) return { tick() {}, stop() {} };
  if (!o.tty) {
    return {
      tick: (done, total, line) => o.write(`[${String(done).padStart(String(total).length)}/${total}] ${line}\n`),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream: o.barStream ?? process.stderr, format: ' {bar} {value}/{total} {line}', clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    tick(done, total, line) {
      if (!started) {
        bar.start(total, 0, { line: '' });
        started = true;
      }
      bar.update(done, { line });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
