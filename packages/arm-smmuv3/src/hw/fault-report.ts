import type { DmaRequest, FaultRecord } from '@ioasid/core';
import { EVENT } from '../tables/events.js';
import { encodePriq } from '../tables/pri.js';
import type { Endpoints } from './atc.js';
import { eventRecord } from './event-record.js';
import { faultRecord } from './fault-record.js';
import type { HwFault } from './hw-fault.js';

const TRANSLATION_CLASS = new Set<number>([EVENT.F_TRANSLATION, EVENT.F_ACCESS, EVENT.F_PERMISSION]);

/** A stalled transaction waiting for CMD_RESUME (SMMUv3 §3.12.2). */
export interface StalledTransaction {
  sid: number;
  ssid: number;
  iova: bigint;
  write: boolean;
}

/** Appends an entry to the event or PRI queue; false when it is disabled or full. */
export type QueueProducer = (queue: 'eventq' | 'priq', words: Uint32Array) => boolean;

/**
 * What the unit does with a fault a DMA met: stalls it (CD.S / STE.S2S, up to IDR5.STALL_MAX
 * outstanding), turns a stage 1 translation fault of a PRI endpoint into a page request, or
 * writes its event record when the configuration records it.
 */
export class FaultReporter {
  readonly stalls = new Map<number, StalledTransaction>();
  private nextStag = 1;

  constructor(
    private readonly endpoints: Endpoints,
    private readonly stallMax: number,
    private readonly produce: QueueProducer,
  ) {}

  report(f: HwFault, req: DmaRequest, iova: bigint, translated: boolean): FaultRecord {
    const rec = faultRecord(f, req, iova, translated);
    if (f.event === 0) return rec;
    const ep = this.endpoints.peek(req.rid);
    const stage1 = !translated && f.stage === 1 && TRANSLATION_CLASS.has(f.event);
    let stag = 0;
    if (!translated && f.stallable && this.stalls.size < this.stallMax) {
      stag = this.nextStag;
      this.nextStag = (this.nextStag % 0xffff) + 1;
      this.stalls.set(stag, { sid: f.sid, ssid: f.ssid, iova, write: req.write });
      rec.stall = true;
      rec.stag = stag;
      rec.pageRequest = true;
    } else if (stage1 && ep?.priEnabled) {
      // The endpoint's ATS translation failed: it sends a PCIe page request (PRI queue).
      const prg = ep.nextPrg;
      ep.nextPrg = (ep.nextPrg + 1) % 512;
      const entry = encodePriq({
        SID: f.sid,
        SSID: f.ssv ? f.ssid : 0,
        SSID_V: f.ssv ? 1 : 0,
        PERM_READ: req.write ? 0 : 1,
        PERM_WRITE: req.write ? 1 : 0,
        PERM_PRIV: req.privileged ? 1 : 0,
        PRG_LAST: 1,
        PRG_IDX: prg,
        ADDR: Number(iova >> 12n),
      });
      if (this.produce('priq', entry)) {
        ep.pendingPrgs.add(prg);
        rec.pageRequest = true;
        rec.prgIndex = prg;
      }
      return rec;
    }
    if (!f.recordable && !rec.stall) return rec;
    // A Translated transaction is unprivileged without SMMU_IDR3.PASIDTT (§3.9.1.3).
    const ev = eventRecord(f, iova, { write: req.write, privileged: req.privileged && !translated, stag, stall: !!rec.stall });
    rec.recorded = this.produce('eventq', ev);
    return rec;
  }
}
