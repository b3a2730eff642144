/**
 * The adversarial group finds, by itself, each class of isolation bug issue 15 found by hand:
 * each test plants one in a test double of this example plugin and runs the one adversarial
 * case that must catch it. The case must fail, and its message must name the violated rule.
 */
import { describe, expect, it } from 'vitest';
import { runConformance } from '@ioasid/conformance';
import '@ioasid-example/flat-iommu';
import { truncatingVendor } from './planted/truncate.js';
import { overlappingVendor } from './planted/overlap.js';
import { sharedContextVendor } from './planted/shared-context.js';
import { globalPasidVendor } from './planted/global-pasid.js';
import { crashingVendor } from './planted/crash.js';
import { endlessDumpVendor } from './planted/endless-dump.js';
import { looseArgsVendor } from './planted/loose-args.js';
import { scanningIdsVendor } from './planted/scanning-ids.js';
import { kernelInStage2Vendor } from './planted/kernel-in-stage2.js';
import { overclaimingVendor } from './planted/overclaim.js';

interface Planted {
  bug: string;
  vendor: string;
  caseId: string;
  /** Every one must match the failure (the rule it names). */
  rules: RegExp[];
  /**
   * Property runs for a bug the random sequences find only with some probability: at the kit's
   * default budget the shared context was missed once in 30 tries (the global PASID 0 in 30), so
   * these run 16 times the default and a miss is practically impossible, not a flaky test.
   */
  runs?: number;
}

const PLANTED: Planted[] = [
  { bug: '1: frame numbers truncated into entries (40 address bits kept)', vendor: truncatingVendor, caseId: 'adv-widths', rules: [/widths: with hostMemory .*top of host memory/] },
  { bug: "2: kernel frames handed out from VMM memory (ALLOC zeroes another fd's buffer)", vendor: overlappingVendor, caseId: 'adv-exhaustion', rules: [/isolation: .*(victim fd's buffer|attacker's (own )?DMA)/] },
  { bug: '3: devices the hardware cannot tell apart share one context (a POWER PE)', vendor: sharedContextVendor, caseId: 'adv-topology', runs: 400, rules: [/isolation: p\d+ \(group 0x[0-9a-f]+\) (read|wrote)/] },
  { bug: "4: a PASID-tagged DMA reaches another requester's space (pdev → mdev host PASID)", vendor: globalPasidVendor, caseId: 'adv-topology', runs: 400, rules: [/isolation: .* with PASID \d+ (read|wrote)/] },
  { bug: '5: RangeError on DMA at 2^52 and INVALIDATE_CACHE of 2^60', vendor: crashingVendor, caseId: 'adv-widths', rules: [/only IoasidError\/DmaFault may leave the API: RangeError from/] },
  { bug: '6: DUMP_PGTABLE of a self-referencing guest table never ends', vendor: endlessDumpVendor, caseId: 'adv-hostile-views', rules: [/views: DUMP_PGTABLE of the nested child .* did not return within/] },
  {
    bug: '7: junk arguments — TypeError out of a command, an unknown ALLOC key accepted',
    vendor: looseArgsVendor,
    caseId: 'adv-junk',
    rules: [/only IoasidError\/DmaFault may leave the API: TypeError from ALLOC with an unknown key 'bogus' = \{\}/, /arguments: ALLOC with an unknown key 'bogus' was accepted/],
  },
  { bug: '8: an ID allocator whose cost grows with the IDs in use', vendor: scanningIdsVendor, caseId: 'adv-exhaustion', rules: [/scaling: ALLOC costs/] },
  { bug: '9 (issue 19): GET_INFO claims a 1 GiB page size the format cannot hold', vendor: overclaimingVendor, caseId: 'contract-claims', rules: [/GET_INFO claims page size 0x40000000, but a naturally aligned 0x40000000 map at 0x[0-9a-f]+ is held by a leaf of 0x1000/] },
  {
    bug: "10 (issue 21): a kernel frame mapped into a nested child's stage 2 (in the MSI hole)",
    vendor: kernelInStage2Vendor,
    caseId: 'adv-nested-reach',
    rules: [/isolation: .*outside guest RAM, yet the DMA read .* memory nobody mapped for the device|DUMP_PGTABLE of IOASID \d+ .* maps the kernel frame/],
  },
];

describe('the adversarial group finds planted isolation bugs (issue 15)', () => {
  for (const p of PLANTED) {
    it(`bug ${p.bug} → ${p.caseId} fails naming the rule`, { timeout: 300_000 }, () => {
      const report = runConformance({ vendors: [p.vendor], filter: (id) => id === p.caseId, ...(p.runs ? { runs: p.runs } : {}) });
      const r = report.results[0];
      expect(r, `case ${p.caseId} ran`).toBeDefined();
      expect(r.status, `${p.caseId} on ${p.vendor} must fail (it said: ${r.detail ?? ''})`).toBe('fail');
      for (const rule of p.rules) expect(r.error).toMatch(rule);
    });
  }
});
