/**
 * POWER rows of the root walker-vs-engine agreement suite (test/walker-agreement.test.ts): the PHB
 * over a raw TCE table of every TCE format test configuration, pointed at by the firmware's TVE
 * for a dynamic window (no driver), and the driver's dynamic windows of random page size, size and
 * level count, probed across the table's whole reach (beyond the window asked for too).
 */
import fc from 'fast-check';
import { PROT_READ, PROT_WRITE, RadixPageTable, type DeviceDesc, type PtFormat } from '@ioasid/core';
import { Phb4, Phb4Firmware, PowerNvIommu, TceFormat, dynamicWindow, encodeTceKill, tceFormatTestConfigs, type TceWindowDomain } from '../src/index.js';
import type { AgreementCase, AgreementHarness, AgreementRig } from '../../../test/support/walker-agreement.js';
import { DDW, newHost } from './helpers.js';

const PE = 7;
const RID = 0x0108;
const PROTS = [PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE];
/** Host frames the rigs map to: from 256 GiB, aligned to every IO page size. */
const OUTPUT = { first: 0x4000000, frames: 1 << 26 };
const faultName = (kind: 'absent' | 'denied') => (kind === 'absent' ? 'TCE_INVALID' : 'PERMISSION');

/** The PHB over a raw TCE table of `fmt` in PE#7's dynamic window (TVE 2·PE+1, bus 0x0800…), or null if `fmt` is not a TCE format. */
export function powerRawRig(fmt: PtFormat): AgreementRig | null {
  if (!(fmt instanceof TceFormat)) return null;
  const host = newHost();
  const phb = new Phb4(host);
  const fw = new Phb4Firmware(phb, host);
  fw.setPe(PE, RID, true);
  const t = RadixPageTable.create(host, fmt);
  fw.mapPeDmaWindow(PE, PE * 2 + 1, fmt.levels, t.rootAddr, 1n << BigInt(fmt.levelBits() + 3), 1n << BigInt(fmt.pageShift));
  const firstFrame = Number(DDW >> 12n);
  return {
    table: t,
    inputFrames: t.spanFrames,
    output: OUTPUT,
    prots: PROTS,
    map: (frame, frames, runs, prot) => t.map(frame, frames, runs, prot),
    unmap(frame, frames) {
      t.unmap(frame, frames);
      phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'pe', pe: PE }));
    },
    translate: (frame, write) => phb.translate({ rid: RID, pasid: -1, iovaFrame: firstFrame + frame, write, privileged: false }),
    afterTranslate: () => fw.eehFreezeClear(PE),
    faultName,
  };
}

const DEV: DeviceDesc = { name: 'd0', rid: RID, kind: 'pdev', group: 1, ats: false, pri: false, enqcmd: false };

interface WindowSpec {
  pageShift: number;
  windowShift: number;
  levels: number | undefined;
}

/** Window geometries ALLOC accepts: 4K/64K/2M/1G pages, 2^1..2^26 pages, 1..5 levels or Linux's choice. */
const windowSpec: fc.Arbitrary<WindowSpec> = fc
  .record({
    pageShift: fc.constantFrom(12, 16, 21, 30),
    extra: fc.integer({ min: 1, max: 26 }),
    levels: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  })
  .map(({ pageShift, extra, levels }) => ({ pageShift, windowShift: pageShift + extra, levels }))
  .filter((s) => {
    try {
      dynamicWindow({ pageSize: 1n << BigInt(s.pageShift), size: 1n << BigInt(s.windowShift), levels: s.levels });
      return true;
    } catch {
      return false;
    }
  });

/** A dynamic window the driver creates, attaches, maps and unmaps (with its TCE kills). */
function driverWindow(spec: WindowSpec): AgreementRig {
  const iommu = new PowerNvIommu(newHost(), { hw560152: false });
  iommu.probeDevice(DEV);
  const dom = iommu.createDomain({
    protocol: 'map',
    format: { window: { pageSize: 1n << BigInt(spec.pageShift), size: 1n << BigInt(spec.windowShift), levels: spec.levels } },
  }) as TceWindowDomain;
  dom.attach(DEV, undefined);
  const pe = iommu.peOf(DEV)!;
  const busStart = dom.window.busStart;
  const firstFrame = Number(busStart >> 12n);
  const windowFrames = 2 ** (spec.windowShift - 12);
  return {
    table: dom.table,
    inputFrames: dom.table.spanFrames, // the table's whole reach, beyond the window asked for
    output: OUTPUT,
    prots: PROTS,
    canMap: (frame, frames) => frame + frames <= windowFrames,
    map: (frame, frames, runs, prot) => dom.map(busStart + (BigInt(frame) << 12n), BigInt(frames) << 12n, runs, prot),
    unmap: (frame, frames) => dom.unmap(busStart + (BigInt(frame) << 12n), BigInt(frames) << 12n),
    translate: (frame, write) => iommu.translate({ rid: DEV.rid, pasid: -1, iovaFrame: firstFrame + frame, write, privileged: false }),
    afterTranslate: () => iommu.firmware.eehFreezeClear(pe),
    faultName,
  };
}

const cases: AgreementCase<any>[] = [
  ...tceFormatTestConfigs.filter((c) => c.make() instanceof TceFormat).map((c): AgreementCase => ({ name: `${c.name}, raw table`, create: () => powerRawRig(c.make())! })),
  { name: 'dynamic windows through the driver (random page size, size and levels)', config: windowSpec, create: driverWindow, numRuns: 100 },
];

export const powerAgreement: AgreementHarness = { vendor: 'power-tce', cases };
