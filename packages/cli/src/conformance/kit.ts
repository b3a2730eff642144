/**
 * The part of @ioasid/conformance the command uses. Declared here so the command can be given
 * another kit (tests) and so a kit that fails to load is reported instead of breaking the CLI.
 */
export type CaseStatus = 'pass' | 'fail' | 'unsupported';

export interface CaseResult {
  vendor: string;
  id: string;
  title: string;
  group: string;
  status: CaseStatus;
  reason?: string;
  error?: unknown;
  /** What the case counted (e.g. sequences run, DMAs checked). */
  detail?: string;
  /** A failing property's counterexample as a scenario file, and whether its last step states the failure. */
  scenario?: string;
  scenarioReplays?: boolean;
  ms: number;
}

export interface ConformanceRun {
  vendors: string[];
  runs: number;
  results: CaseResult[];
  counts: Record<string, unknown>;
  seed?: number;
}

export interface ConformanceKit {
  listCases(): { id: string; title: string; group: string }[];
  /** Yields to the event loop between cases, so that Ctrl-C stops a long run after the case at hand. */
  runConformanceAsync(opts: {
    vendors: string[];
    seed?: number;
    runs?: number;
    filter?: (id: string) => boolean;
    onCase?: (result: CaseResult, done: number, total: number) => void;
  }): Promise<ConformanceRun>;
}

export const CONFORMANCE_PACKAGE = '@ioasid/conformance';

/** Loads the kit when the command runs (a kit that fails to load is a runtime error, exit 1). */
export async function loadKit(): Promise<ConformanceKit> {
  try {
    // Typed against the kit's own declarations: if its API drifts from ConformanceKit, this fails to compile.
    const kit: ConformanceKit = await import('@ioasid/conformance');
    return kit;
  } catch (e) {
    throw new Error(`the conformance kit (${CONFORMANCE_PACKAGE}) did not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}
