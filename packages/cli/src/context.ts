import type { Io } from './io.js';
import { loadVendors, type VendorLoad } from './vendors.js';

/** What every command gets: where to print, the vendors (loaded once), and the exit code to end with. */
export interface Context {
  io: Io;
  vendors(): Promise<VendorLoad>;
  /** The --plugin modules the user named (a benchmark's worker process loads them too). */
  plugins(): string[];
  exitCode: number;
}

export function createContext(io: Io, plugins: () => string[]): Context {
  let loading: Promise<VendorLoad> | undefined;
  return {
    io,
    exitCode: 0,
    plugins,
    vendors() {
      loading ??= loadVendors(plugins()).then((load) => {
        for (const f of load.failed) io.err(`ioasid: warning: vendor module ${f.module} did not load: ${f.reason}\n`);
        return load;
      });
      return loading;
    },
  };
}
