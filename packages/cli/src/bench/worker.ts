/**
 * A benchmark worker: `node worker.js '{"vendor","label","quick","plugins"}'` loads the vendors,
 * runs that one benchmark and prints its rows as JSON (runBench's isolated mode).
 */
import { loadVendors } from '../vendors.js';
import { runOne } from './index.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { vendor: string; label: string; quick: boolean; plugins: string[] };
await loadVendors(args.plugins);
const rows = runOne(args.vendor, args.label, args.quick);
process.stdout.write(JSON.stringify(rows, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
