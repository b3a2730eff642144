/**
 * SMMUv3 rows of the root walker-vs-engine agreement suite (test/walker-agreement.test.ts): a bare
 * unit (bareUnit, no driver) over a raw stage 1 or stage 2 table of every LPAE format test
 * configuration, plus a 48-bit stage 2 with the 4K granule (a four-level walk from LPAE level 0).
 */
import { PROT_READ, PROT_WRITE, RadixPageTable, type PtFormat } from '@ioasid/core';
import { LpaeFormat, OP, encodeSte, lpaeFormatTestConfigs, lpaeStage2Format, s1Cd, s2Ste } from '../src/index.js';
import type { AgreementCase, AgreementHarness, AgreementRig } from '../../../test/support/walker-agreement.js';
import { bareUnit, s2Of } from './hw-harness.js';

const SID = 8;

/** The unit over a raw table of `fmt`: stage 2 only (STE Config 0b110), or stage 1 only (Config 0b101, one CD), or null if `fmt` is not LPAE. */
export function smmuRawRig(fmt: PtFormat): AgreementRig | null {
  if (!(fmt instanceof LpaeFormat)) return null;
  const b = bareUnit();
  const t = RadixPageTable.create(b.host, fmt);
  if (fmt.stage === 2) {
    b.writeSte(SID, s2Ste(s2Of(t), false));
  } else {
    const cd = b.host.allocFrame() * 4096;
    b.writeWords(cd, s1Cd({ ttb0: t.root * 4096, granule: fmt.geometry.granule, ias: fmt.geometry.ias, asid: 1, ipsBits: 48 }));
    b.writeSte(SID, encodeSte({ V: 1, Config: 5, S1ContextPtr: cd, S1STALLD: 1 }));
  }
  return {
    table: t,
    inputFrames: 2 ** (fmt.geometry.ias - 12),
    output: { first: 1 << 24, frames: 1 << 24 }, // host frames from 64 GiB, aligned to every block size
    prots: [PROT_READ, PROT_READ | PROT_WRITE],
    map: (frame, frames, runs, prot) => t.map(frame, frames, runs, prot),
    unmap(frame, frames) {
      t.unmap(frame, frames);
      b.cmd([OP.TLBI_NSNH_ALL, {}]);
    },
    translate: (frame, write) => b.dma(SID, frame * 4096, { write }),
    afterTranslate: () => void b.events(), // consume the fault events so the queue never overflows
    faultName: (kind) => (kind === 'absent' ? 'F_TRANSLATION' : 'F_PERMISSION'),
  };
}

const raw = [...lpaeFormatTestConfigs, { name: 'LPAE stage 2, 4K granule, 48-bit IPA', make: () => lpaeStage2Format(4096, 48) }];

const cases: AgreementCase[] = raw.filter((c) => c.make() instanceof LpaeFormat).map((c) => ({ name: `${c.name}, raw table`, create: () => smmuRawRig(c.make())! }));

export const smmuAgreement: AgreementHarness = { vendor: 'arm-smmuv3', cases };
