/**
 * RISC-V rows of the root walker-vs-engine agreement suite (test/walker-agreement.test.ts): the
 * unit over a raw table of every Sv format test configuration — a first-stage table in DC.fsc
 * (iohgatp Bare) or a G-stage table in DC.iohgatp (fsc Bare), no driver — and the driver's
 * G-stage 'map' IOASID with its IOTINVAL.GVMA on unmap.
 */
import { PROT_READ, PROT_WRITE, RadixPageTable, createMachine, type PtFormat } from '@ioasid/core';
import { GStageDomain, RiscvIommuDriver, SvFormat, iotinvalGvma, iotinvalVma, svFormatTestConfigs } from '../src/index.js';
import type { AgreementCase, AgreementHarness, AgreementRig } from '../../../test/support/walker-agreement.js';
import { Harness } from './hw-harness.js';

const RID = 8;
const PROTS = [PROT_READ, PROT_READ | PROT_WRITE];
/** Host frames the rigs map to: from 1 GiB (aligned to every leaf), inside the rigs' 4 GiB of host memory. */
const OUTPUT = { first: 1 << 18, frames: 1 << 19 };

function rawRig(fmt: PtFormat): AgreementRig | null {
  if (!(fmt instanceof SvFormat)) return null;
  const h = new Harness(undefined, 4n << 30n);
  const t = RadixPageTable.create(h.mem, fmt);
  const mode = fmt.mode === 39 ? 8 : fmt.mode === 48 ? 9 : 10;
  // A dirty-logging G-stage (leaves with D clear) is walked with GADE, as the driver sets it while tracking.
  if (fmt.x4) h.setDc(RID, { tc: { GADE: fmt.logDirty }, iohgatp: { MODE: mode, GSCID: 1, PPN: t.root } });
  else h.setDc(RID, { ta: { PSCID: 1 }, fsc: { MODE: mode, PPN: t.root } });
  const stage = fmt.x4 ? 'GUEST_PAGE_FAULT' : 'PAGE_FAULT';
  return {
    table: t,
    // A first stage translates the lower half of its sign-extended input space.
    inputFrames: fmt.x4 ? t.spanFrames : t.spanFrames / 2,
    output: OUTPUT,
    prots: PROTS,
    map: (frame, frames, runs, prot) => t.map(frame, frames, runs, prot),
    unmap(frame, frames) {
      t.unmap(frame, frames);
      h.command(fmt.x4 ? iotinvalGvma({ gscid: 1 }) : iotinvalVma({ pscid: 1 }));
    },
    translate: (frame, write) => h.dma(RID, BigInt(frame) << 12n, { write }),
    faultName: (_kind, write) => `${write ? 'WRITE' : 'READ'}_${stage}`,
  };
}

function driverRig(): AgreementRig {
  const m = createMachine({ vendor: 'riscv-iommu', hostMemory: 4n << 30n, devices: [{ name: 'd0' }] });
  const drv = m.driver as RiscvIommuDriver;
  const dev = { name: 'd0', rid: RID, kind: 'pdev' as const, group: 1, ats: false, pri: false, enqcmd: false };
  drv.probeDevice(dev);
  const dom = drv.createDomain({ protocol: 'map', format: {} }) as GStageDomain;
  dom.attach(dev, undefined);
  return {
    table: dom.pt,
    inputFrames: Number((dom.info().permittedRanges[0].last + 1n) >> 12n),
    output: OUTPUT,
    prots: PROTS,
    map: (frame, frames, runs, prot) => dom.map(BigInt(frame) << 12n, BigInt(frames) << 12n, runs, prot),
    unmap: (frame, frames) => dom.unmap(BigInt(frame) << 12n, BigInt(frames) << 12n),
    translate: (frame, write) => drv.unit.translate({ rid: RID, pasid: -1, iovaFrame: frame, write, privileged: false }),
    faultName: (_kind, write) => (write ? 'WRITE_GUEST_PAGE_FAULT' : 'READ_GUEST_PAGE_FAULT'),
  };
}

const cases: AgreementCase<any>[] = [
  ...svFormatTestConfigs.map((c): AgreementCase => ({ name: `${c.name}, raw table`, create: () => rawRig(c.make())! })),
  { name: "the driver's G-stage 'map' IOASID", create: driverRig },
];

export const riscvAgreement: AgreementHarness = { vendor: 'riscv-iommu', cases };
