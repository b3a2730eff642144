/**
 * VT-d rows of the root walker-vs-engine agreement suite (test/walker-agreement.test.ts): the unit
 * over a raw table of every VT-d format test configuration it can walk, set up by hand (Hand), and
 * the two cases the driver builds (a second-level map domain, whose own flushes must leave nothing
 * stale, and a guest first-level table bound over it).
 */
import fc from 'fast-check';
import { PROT_READ, PROT_WRITE, type DmaRequest, type HostMemory, type PtFormat } from '@ioasid/core';
import { FirstLevelFormat, SecondLevelFormat, vtdFormatTestConfigs, type VtdNestedDomain, type VtdSecondLevelDomain, type VtdUnit } from '../src/index.js';
import type { AgreementCase, AgreementHarness, AgreementRig } from '../../../test/support/walker-agreement.js';
import { Hand } from './hand.js';
import { vtdMachine } from './helpers.js';

const DID = 1;

/** A rig with the unit under it exposed, for the traced-walk suite (walk-agreement.test.ts). */
export interface VtdRig extends AgreementRig {
  readonly unit: VtdUnit;
  readonly host: HostMemory;
  /** The request a DMA to input `frame` puts on the bus. */
  request(frame: number, write: boolean): DmaRequest;
}

const rawRequest = (frame: number, write: boolean): DmaRequest => ({ rid: 0x08, pasid: -1, iovaFrame: frame, write, privileged: false });
const PROTS = [PROT_READ, PROT_READ | PROT_WRITE];
/** Host frames the raw rigs map to: from 64 GiB, clear of the interrupt range and aligned to 1 GiB. */
const HOST_OUTPUT = { first: 1 << 24, frames: 1 << 24 };

/** Scalable-mode reasons (VT-d §7.1.3): no leaf is a not-present second-stage entry (79h), a leaf that does not grant the access 85h / 86h. */
const secondLevelFault = (kind: 'absent' | 'denied', write: boolean) => (kind === 'absent' ? 'SS_PAGING_ENTRY_P' : write ? 'SM_WRITE' : 'SM_READ');
const firstLevelFault = (kind: 'absent' | 'denied') => (kind === 'absent' ? 'FS_PAGING_ENTRY_P' : 'SM_WRITE');

/** Input frames a first-level table of `levels` translates without sign extension (the canonical lower half). */
const flInputFrames = (levels: number) => 2 ** (levels * 9 + 12 - 1 - 12);

/** Whether the unit walks `fmt`: SAGAW offers 48- and 57-bit (4- and 5-level) second levels; first levels of 4 and 5 levels. */
function unitWalks(fmt: PtFormat): boolean {
  return fmt instanceof SecondLevelFormat ? fmt.levels >= 4 : fmt instanceof FirstLevelFormat;
}

/** The unit over a raw second- or first-level table of `fmt` (PASID entry PGTT 010b / 001b, RID 0x08, no PASID), or null if the unit cannot walk it. */
export function vtdRawRig(fmt: PtFormat): VtdRig | null {
  if (!unitWalks(fmt)) return null;
  if (fmt instanceof SecondLevelFormat) {
    const h = new Hand({ sl: fmt, addressWidth: fmt.levels === 5 ? 57 : 48 });
    h.pasid(0, { did: DID });
    return {
      unit: h.unit,
      host: h.host,
      request: rawRequest,
      table: h.sl,
      inputFrames: 2 ** (fmt.levels * 9),
      output: HOST_OUTPUT,
      prots: PROTS,
      map: (frame, frames, runs, prot) => h.sl.map(frame, frames, runs, prot),
      unmap(frame, frames) {
        h.sl.unmap(frame, frames);
        h.invalidate({ type: 'iotlb', gran: 2, did: DID, addr: 0n, am: 0, ih: false, dr: false, dw: false });
      },
      translate: (frame, write) => h.dma(BigInt(frame) << 12n, { write }),
      faultName: secondLevelFault,
    };
  }
  if (fmt instanceof FirstLevelFormat) {
    const h = new Hand({ fl: fmt });
    h.pasid(0, { pgtt: 1, did: DID });
    return {
      unit: h.unit,
      host: h.host,
      request: rawRequest,
      table: h.fl,
      inputFrames: flInputFrames(fmt.levels),
      output: HOST_OUTPUT,
      prots: PROTS,
      map: (frame, frames, runs, prot) => h.fl.map(frame, frames, runs, prot),
      unmap(frame, frames) {
        h.fl.unmap(frame, frames);
        h.invalidate({ type: 'piotlb', gran: 2, did: DID, pasid: 0, addr: 0n, am: 0, ih: false });
      },
      translate: (frame, write) => h.dma(BigInt(frame) << 12n, { write }),
      faultName: firstLevelFault,
    };
  }
  return null;
}

/** A second-level map domain the driver creates and attaches: it maps, unmaps and flushes. */
function driverMapDomain(): VtdRig {
  const { m, driver } = vtdMachine();
  const dev = m.device('dev0').desc;
  const d = driver.createDomain({ protocol: 'map', format: {} }) as VtdSecondLevelDomain;
  d.attach(dev, undefined);
  const permitted = d.info().permittedRanges.map((r) => ({ first: Number(r.start >> 12n), last: Number(r.last >> 12n) }));
  return {
    unit: driver.unit,
    host: m.hostMemory,
    request: (frame, write) => ({ rid: dev.rid, pasid: -1, iovaFrame: frame, write, privileged: false }),
    table: d.table,
    inputFrames: Math.min(d.table.spanFrames, 2 ** 36),
    output: HOST_OUTPUT,
    prots: PROTS,
    canMap: (frame, frames) => permitted.some((r) => frame >= r.first && frame + frames - 1 <= r.last),
    map: (frame, frames, runs, prot) => d.map(BigInt(frame) << 12n, BigInt(frames) << 12n, runs, prot),
    unmap: (frame, frames) => d.unmap(BigInt(frame) << 12n, BigInt(frames) << 12n),
    translate: (frame, write) => driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: frame, write, privileged: false }),
    faultName: secondLevelFault,
  };
}

/** A guest first-level table (GuestMemory) bound to a user-pgtable child whose parent maps all of guest RAM. */
function driverNested(levels: 4 | 5): VtdRig {
  const { m, driver } = vtdMachine();
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'd' });
  const parent = fd.alloc({ protocol: 'map' });
  fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
  dev.attachIoasid(parent);
  const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
  dev.attachIoasid(child);
  const format = { kind: 'vtd-first-level', levels };
  const gpt = m.guest.createPageTable(driver.guest.pageTableFormat(format));
  fd.bindPgtable({ ioasid: child, addr: gpt.root, format });
  const sl = (fd.ioasidObject(child).domain as VtdNestedDomain).parent;
  return {
    unit: driver.unit,
    host: m.hostMemory,
    request: (frame, write) => ({ rid: dev.rid, pasid: -1, iovaFrame: frame, write, privileged: false }),
    table: gpt.table,
    outer: sl.table,
    inputFrames: flInputFrames(levels),
    // Guest-physical outputs: the lower half of guest RAM (the guest's own tables come from the top).
    output: { first: 0, frames: Number(m.guest.size >> 13n) },
    prots: PROTS,
    map: (frame, frames, runs, prot) =>
      gpt.map(BigInt(frame) << 12n, BigInt(runs.frame(0)) << 12n, BigInt(frames) << 12n, { read: true, write: (prot & PROT_WRITE) !== 0 }),
    translate: (frame, write) => driver.translate({ rid: dev.rid, pasid: -1, iovaFrame: frame, write, privileged: false }),
    faultName: firstLevelFault,
  };
}

/** A case whose rigs expose their unit. */
export interface VtdCase<C = any> extends AgreementCase<C> {
  create(config: C): VtdRig;
}

/** Every case, each rig with its unit exposed (VtdRig). */
export const vtdCases: VtdCase[] = [
  ...vtdFormatTestConfigs.filter((c) => unitWalks(c.make())).map((c): VtdCase => ({ name: `${c.name}, raw table`, create: () => vtdRawRig(c.make())! })),
  { name: 'second level through the driver (map domain: its flushes leave nothing stale)', create: driverMapDomain, numRuns: 30 },
  {
    name: 'nested: a guest first level bound through the driver, composed with the parent second level',
    config: fc.constantFrom(4 as const, 5 as const),
    create: driverNested,
    numRuns: 15,
  },
];

export const vtdAgreement: AgreementHarness = { vendor: 'intel-vtd', cases: vtdCases };
