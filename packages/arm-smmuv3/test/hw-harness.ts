import { AllocInjector, HostMemory, RadixPageTable, contiguousRuns, type FaultRecord, type FrameMemory } from '@ioasid/core';
import {
  CR0,
  EVT_WORDS,
  Q_BASE,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  SmmuV3,
  decodeEvent,
  decodePriq,
  encodeCommand,
  eventName,
  lpaeStage1Format,
  lpaeStage2Format,
  regValue,
  regWith,
  type CmdFields,
  type LpaeFormat,
  type S2Table,
  type Granule,
  type SmmuFeatures,
} from '../src/index.js';

/**
 * A bare SMMUv3 on a fresh host, programmed by hand (no driver): a linear stream table of 256
 * STEs, a 256-entry command queue, a 128-entry event queue and a PRI queue, all enabled.
 */
export function bareUnit(features: Partial<SmmuFeatures> = {}) {
  const host = new HostMemory(new AllocInjector());
  const unit = new SmmuV3(host, features);
  const strtab = host.allocFrames(4, 4) * 4096;
  const cmdq = host.allocFrame() * 4096;
  const evtq = host.allocFrame() * 4096;
  const priq = host.allocFrame() * 4096;
  unit.write('STRTAB_BASE', regValue(STRTAB_BASE, { RA: true, ADDR: strtab / 64 }));
  unit.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { LOG2SIZE: 8 }));
  unit.write('CMDQ_BASE', regValue(Q_BASE, { ADDR: cmdq / 32, LOG2SIZE: 8 }));
  unit.write('EVENTQ_BASE', regValue(Q_BASE, { ADDR: evtq / 32, LOG2SIZE: 7 }));
  unit.write('PRIQ_BASE', regValue(Q_BASE, { ADDR: priq / 32, LOG2SIZE: 8 }));
  unit.write('CR0', regValue(CR0, { SMMUEN: true, EVENTQEN: true, CMDQEN: true, PRIQEN: true }));
  let prod = 0;
  let evCons = 0;

  const writeWords = (pa: number, w: Uint32Array) => host.write(pa, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));

  return {
    host,
    unit,
    strtab,
    writeWords,
    writeSte(sid: number, ste: Uint32Array) {
      writeWords(strtab + sid * 64, ste);
    },
    /** Puts commands in the queue and publishes PROD (the hardware consumes them at once). */
    cmd(...cmds: [number, CmdFields][]) {
      for (const [op, f] of cmds) {
        writeWords(cmdq + (prod % 256) * 16, encodeCommand(op, f));
        prod = (prod + 1) % 512;
      }
      unit.write('CMDQ_PROD', BigInt(prod));
    },
    /** One request; `translated` marks it PCIe AT = Translated (the address came from the endpoint's ATC). */
    dma(sid: number, iova: number, opts: { pasid?: number; write?: boolean; privileged?: boolean; translated?: boolean } = {}): number | FaultRecord {
      const req = { rid: sid, pasid: opts.pasid ?? -1, iovaFrame: Math.floor(iova / 4096), offset: iova % 4096, write: !!opts.write, privileged: !!opts.privileged };
      return unit.translate(opts.translated ? { ...req, translated: true } : req);
    },
    /** Rewrites CR0 with ATSCHK set or clear, the other enables unchanged. */
    atschk(on: boolean) {
      unit.write('CR0', regWith(unit.read('CR0'), CR0.ATSCHK, on ? 1 : 0));
    },
    /** Events written since the last call, decoded from queue memory (the test consumes them). */
    events() {
      const p = Number(unit.read('EVENTQ_PROD') & 0xffn);
      const out: (ReturnType<typeof decodeEvent> & { name: string })[] = [];
      while (evCons !== p) {
        const at = evtq + (evCons % 128) * 32;
        const w = new Uint32Array(EVT_WORDS);
        for (let k = 0; k < EVT_WORDS; k++) w[k] = host.u32(at + 4 * k);
        const d = decodeEvent(w);
        out.push({ ...d, name: eventName(d.TYPE) });
        evCons = (evCons + 1) % 256;
      }
      unit.write('EVENTQ_CONS', BigInt(evCons));
      return out;
    },
    priEntries() {
      const p = Number(unit.read('PRIQ_PROD') & 0x1ffn);
      const out: ReturnType<typeof decodePriq>[] = [];
      for (let c = 0; c < p; c++) {
        const at = priq + (c % 256) * 16;
        const w = new Uint32Array(4);
        for (let k = 0; k < 4; k++) w[k] = host.u32(at + 4 * k);
        out.push(decodePriq(w));
      }
      return out;
    },
  };
}

export type Bare = ReturnType<typeof bareUnit>;

/** A stage 1 or stage 2 table built by the engine in host memory. */
export function hostTable(host: FrameMemory, stage: 1 | 2, granule: Granule = 4096, ias = 48): RadixPageTable {
  return RadixPageTable.create(host, stage === 1 ? lpaeStage1Format(granule, ias) : lpaeStage2Format(granule, ias));
}

/** The STE-side description of an engine-built stage 2 table. */
export function s2Of(t: RadixPageTable, vmid = 1): S2Table {
  return { vmid, geometry: (t.fmt as LpaeFormat).geometry, ttb: t.root * 4096, oasBits: 48 };
}

export function mapRange(t: RadixPageTable, iova: number, pa: number, bytes: number, prot = 3): void {
  t.map(iova / 4096, bytes / 4096, contiguousRuns(pa / 4096, bytes / 4096), prot);
}

export function isFault(r: number | FaultRecord): r is FaultRecord {
  return typeof r !== 'number';
}
