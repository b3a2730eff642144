import fc from 'fast-check';
import type { CaseDef, Caps, KitEnv } from '../types.js';
import { ConformanceFailure, PAGE, rejectsNesting, supportsUserPgtable } from '../kit.js';
import { attempt } from './api.js';
import { scaled } from './budget.js';
import { checkProperty } from './property.js';
import { hexn } from './show.js';
import { Tally, reporting } from './tally.js';
import { Failures } from './failures.js';
import { boundChild, type BoundChild, type ViewMode } from './views/child.js';
import { scanDump } from './views/dump-scan.js';
import { fullWalk } from './views/full-walk.js';
import { HOLE, TABLE_SCENARIOS, makeHostile, type TableScenario } from './views/scenarios.js';
import { watched } from './views/watchdog.js';

/** Random hostile tables per case at the kit's default run count (after one of each scenario). */
const RUNS = 4;

interface Params {
  mode: ViewMode;
  scenario: TableScenario;
  seed: number;
  slots: number[];
}

/** DUMP_PGTABLE of the child: bounded, and `truncated: true` when it shows less than the whole table. */
function checkDump(b: BoundChild, p: Params, t: Tally): void {
  const what = `DUMP_PGTABLE of the nested child (${p.mode}, '${p.scenario}' guest table)`;
  const r = watched(b.m, what, () => b.fd.dumpPgtable(b.child));
  t.add('views checked');
  if (!r.ok || (p.scenario !== 'self' && p.scenario !== 'cycle')) return;
  const full = fullWalk(b.m, b.gt.fmt, Number(b.gt.pt.root / PAGE), HOLE);
  const guest = new Set<bigint>();
  for (const gfn of full.frames) {
    guest.add(BigInt(gfn) * PAGE);
    const hf = (b.m.guest as { hostFrame?: (g: number) => number }).hostFrame?.(gfn);
    if (typeof hf === 'number' && hf >= 0) guest.add(BigInt(hf) * PAGE);
  }
  const scan = scanDump(r.value, (addr) => guest.has(addr));
  if (scan.guestNodes === 0 || scan.truncated) return;
  const early = scan.guestNodes < full.distinct || (scan.repeats && scan.guestNodes < full.tree);
  if (early) {
    throw new ConformanceFailure(
      `views: ${what} stopped early — it shows ${scan.guestNodes} guest table node(s) of ${full.distinct} distinct tables (${full.tree >= 1e12 ? 'more than 10^12' : full.tree} in a complete tree view) — but does not say truncated: true`,
    );
  }
}

function runViews(env: KitEnv, p: Params, t: Tally): void {
  t.add('hostile tables');
  const b = boundChild(env, p.mode);
  makeHostile(b.m, b.gt, p.scenario, p.seed, b.gva(0));
  attempt('INVALIDATE_CACHE(all) after the guest changed its table', () => b.fd.invalidateCache({ ioasid: b.child, all: true }));
  checkDump(b, p, t);
  for (const s of p.slots) {
    const gva = b.gva(s) + BigInt((s * 40) % 4000);
    const pasids = b.pasid === undefined ? [undefined] : [b.pasid, 4];
    for (const pasid of pasids) {
      const tag = `${hexn(gva)}${pasid === undefined ? '' : ` with PASID ${pasid}`} (${p.mode}, '${p.scenario}' guest table)`;
      watched(b.m, `LOOKUP of the nested child at ${tag}`, () => b.fd.lookup(b.child, gva, pasid === undefined ? {} : { pasid }));
      const rd = watched(b.m, `a DMA read at ${tag}`, () => b.dev.dmaRead(gva, 16, { pasid }), true);
      if (!rd.ok && rd.fault) attempt('reset dev0', () => b.dev.reset());
      const wr = watched(b.m, `a DMA write at ${tag}`, () => b.dev.dmaWrite(gva, new Uint8Array([0xde, 0xad, 0xbe, 0xef]), { pasid }), true);
      if (!wr.ok && wr.fault) attempt('reset dev0', () => b.dev.reset());
      t.add('views checked', 3);
    }
  }
  for (const id of b.fd.ioasidIds) attempt('READ_FAULTS', () => b.fd.readFaults(id));
  attempt('close the fd', () => b.fd.close());
}

/**
 * Hostile guest tables through every view: loops, self-references, cross-level
 * cycles, pointers at the parent's holes and past guest RAM, random words — in a bound page table
 * and in a bound PASID table. DUMP_PGTABLE, LOOKUP and DMA each return within 2 s (a watchdog
 * stops one that does not), only IoasidError/DmaFault come out, and a dump that shows less than
 * the whole table says truncated: true.
 */
export const hostileViewsCase: CaseDef = {
  id: 'adv-hostile-views',
  group: 'adversarial',
  title: 'adversarial: hostile guest tables through every view — DUMP, LOOKUP and DMA bounded, truncated: true when a dump stops early',
  needs: (caps) =>
    supportsUserPgtable(caps.dev) || caps.dev.protocols.includes('user-pasid-table') ? null : "GET_INFO lists neither 'user-pgtable' nor 'user-pasid-table': no guest table to bind",
  rejects: (env) => rejectsNesting(env, 'user-pgtable'),
  run(env, caps: Caps) {
    const tally = new Tally();
    return reporting(tally, () => {
      const modes: ViewMode[] = [];
      if (supportsUserPgtable(caps.dev)) modes.push('pgtable');
      if (caps.dev.protocols.includes('user-pasid-table')) modes.push('pasid-table');
      // Every scenario in every mode once, then random ones.
      const failures = new Failures();
      for (const mode of modes) for (const scenario of TABLE_SCENARIOS) failures.run(() => runViews(env, { mode, scenario, seed: 1, slots: [0, 2] }, tally));
      const arb = fc.record({
        mode: fc.constantFrom(...modes),
        scenario: fc.constantFrom(...TABLE_SCENARIOS),
        seed: fc.nat(),
        slots: fc.array(fc.nat({ max: 15 }), { minLength: 1, maxLength: 3 }),
      });
      if (failures.size === 0) failures.run(() => checkProperty(arb, (p) => runViews(env, p, tally), scaled(env, RUNS), env.seed, { caseId: 'adv-hostile-views', vendor: env.vendor }));
      failures.throwIfAny();
    });
  },
};
