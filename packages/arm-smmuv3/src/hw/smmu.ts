import { POW2, type DmaRequest, type HostMemory, type IommuUnit, type TranslateResult, type WalkTracer } from '@ioasid/core';
import { CMD_WORDS, CMD_BYTES } from '../tables/commands.js';
import { EVT_BYTES } from '../tables/events.js';
import { PRIQ_BYTES } from '../tables/pri.js';
import { atcEntry, checkTranslated } from './ats-check.js';
import { ATC_READ, ATC_WRITE, Endpoints } from './atc.js';
import { Bus } from './bus.js';
import { executeCommand, type CommandSinks, type ExecutedCommand } from './command-consumer.js';
import { busAddress } from './event-record.js';
import { ConfigCache } from './config-cache.js';
import { DEFAULT_FEATURES, capsFromIdRegisters, idRegisters, type IdCaps, type IdRegisterValues, type IdRegisters, type SmmuFeatures } from './features.js';
import { faultRecord, silentAbort } from './fault-record.js';
import { FaultReporter, type StalledTransaction } from './fault-report.js';
import { qEmpty, qFull, qInc, qIndex, qMask } from './queue.js';
import {
  CMDQ_CONS_ERR,
  CR0,
  GBPA,
  GERROR,
  IDR5,
  IRQ_CTRL,
  Q_BASE,
  Q_OVERFLOW,
  REG_OFFSET,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_FMT_2LVL,
  regField,
  regName,
  regWith,
  type RegName,
} from './registers.js';
import { Tlb } from './tlb.js';
import type { StreamTableRegs } from './config-fetch.js';
import { Walker, type HwFault } from './walker.js';

export type { StalledTransaction };

const READ_ONLY: ReadonlySet<RegName> = new Set(['IDR0', 'IDR1', 'IDR2', 'IDR3', 'IDR4', 'IDR5', 'IIDR', 'AIDR', 'CR0ACK', 'GERROR']);
const EXECUTED_LOG = 512;
/** The endpoint's cache a traced walk probes first (WalkTracer.probe). */
export const CACHE_ATC = 'ATC';

/** A queue as its *_BASE register places it (LOG2SIZE capped at the IDR1 maximum, as the architecture does). */
interface QueueRegs {
  addr: number;
  log2: number;
}

/**
 * The SMMUv3 hardware model: a register file, the translation walker with its configuration
 * cache and TLB, the command queue consumer, and the event and PRI queue producers, all in
 * host memory. It reads memory and registers only; the driver talks to it through
 * `write(register, value)` as it would through MMIO.
 */
/** The unit's interrupt lines the driver's handlers are wired to (Linux evtq / priq IRQs). */
export type SmmuIrq = 'eventq' | 'priq';

export class SmmuV3 implements IommuUnit {
  readonly bus: Bus;
  readonly ids: IdRegisters;
  readonly caps: IdCaps;
  readonly configCache = new ConfigCache();
  readonly tlb = new Tlb();
  readonly endpoints = new Endpoints();
  readonly stalls: Map<number, StalledTransaction>;
  /** RESUME commands received: (sid, stag, action), oldest first. */
  readonly resumes: { sid: number; stag: number; action: number }[] = [];
  /** The last commands consumed (decoded opcode and raw words), at least the last EXECUTED_LOG. */
  readonly executed: ExecutedCommand[] = [];
  private readonly regs = new Map<RegName, bigint>();
  private readonly walker: Walker;
  private readonly reporter: FaultReporter;
  private smmuen = false;
  /** CR0.ATSCHK as decoded when CR0 is written (RES0 without IDR0.ATS). */
  private atschk = false;
  /** STRTAB_BASE(_CFG) decoded when written (they only change while SMMUEN is 0). */
  private strtabRegs: StreamTableRegs = { base: 0, twoLevel: false, log2size: 0, split: 0 };
  /** CR0.CMDQEN and CMDQ_BASE decoded when written. */
  private cmdqen = false;
  private cmdqRegs: QueueRegs = { addr: 0, log2: 0 };
  private readonly cmdWords = new Uint32Array(CMD_WORDS);
  private readonly sinks: CommandSinks;
  /** The CPU side of the interrupt lines; the handler learns only which line fired. */
  private irqHandler: ((line: SmmuIrq) => void) | null = null;
  /** Lines asserted during the current transaction, signalled when it completes. */
  private readonly pendingIrqs = new Set<SmmuIrq>();

  /**
   * A unit implementing `id`: features (the ID registers follow from them), or the ID register
   * values themselves (a unit rebuilt from another's registers).
   */
  constructor(host: HostMemory, id: Partial<SmmuFeatures> | IdRegisterValues = {}) {
    this.bus = new Bus(host);
    const values: IdRegisterValues = 'IDR0' in id ? id : idRegisters({ ...DEFAULT_FEATURES, ...id });
    this.ids = { IDR0: values.IDR0, IDR1: values.IDR1, IDR2: values.IDR2, IDR3: values.IDR3, IDR4: values.IDR4, IDR5: values.IDR5 };
    this.caps = capsFromIdRegisters(this.ids);
    for (const name of Object.keys(REG_OFFSET) as RegName[]) this.regs.set(name, 0n);
    for (const [k, v] of Object.entries(values)) if (v !== undefined) this.regs.set(k as RegName, v);
    // Out of reset, incoming transactions abort while the SMMU is disabled (GBPA.ABORT).
    this.regs.set('GBPA', regWith(0n, GBPA.ABORT, 1));
    this.walker = new Walker(this.bus, this.caps, this.configCache, this.tlb);
    this.reporter = new FaultReporter(this.endpoints, regField(this.ids.IDR5, IDR5.STALL_MAX), (q, words) =>
      q === 'eventq'
        ? this.produce('EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS', CR0.EVENTQEN, EVT_BYTES, words)
        : this.produce('PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS', CR0.PRIQEN, PRIQ_BYTES, words),
    );
    this.stalls = this.reporter.stalls;
    this.sinks = {
      cache: this.configCache,
      tlb: this.tlb,
      endpoints: this.endpoints,
      resume: (sid: number, stag: number, action: number) => {
        const s = this.stalls.get(stag);
        if (s && s.sid === sid) this.stalls.delete(stag);
        this.resumes.push({ sid, stag, action });
      },
      terminateStalls: (sid: number) => {
        for (const [stag, s] of this.stalls) if (s.sid === sid) this.stalls.delete(stag);
      },
    };
  }

  // ---- register file -------------------------------------------------------------------

  /** Snapshot of every architectural register; no side effect. */
  registers(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    for (const [k, v] of this.regs) out[k] = v;
    return out;
  }

  /** An MMIO read of one register by its specification name. */
  read(name: string): bigint {
    return this.regs.get(regName(name))!;
  }

  /** An MMIO write, with the side effects the register has. */
  write(name: string, value: bigint): void {
    this.writeReg(regName(name), value);
  }

  /** Wires the unit's interrupt lines (event queue, PRI queue) to the driver's handler. */
  connectIrq(handler: (line: SmmuIrq) => void): void {
    this.irqHandler = handler;
  }

  private writeReg(name: RegName, value: bigint): void {
    if (READ_ONLY.has(name)) return;
    switch (name) {
      case 'CR0':
        this.regs.set('CR0', value);
        this.regs.set('CR0ACK', value);
        this.smmuen = regField(value, CR0.SMMUEN) === 1;
        this.atschk = this.caps.ats && regField(value, CR0.ATSCHK) === 1;
        this.cmdqen = regField(value, CR0.CMDQEN) === 1;
        if (this.cmdqen) this.consumeCommands();
        return;
      case 'STRTAB_BASE':
      case 'STRTAB_BASE_CFG':
        if (this.smmuen) return; // only writable while SMMUEN is 0
        this.regs.set(name, value);
        this.strtabRegs = this.strtab();
        return;
      case 'CMDQ_BASE':
        this.regs.set(name, value);
        this.cmdqRegs = this.queue('CMDQ_BASE');
        return;
      case 'CMDQ_PROD':
        this.regs.set(name, value);
        this.consumeCommands();
        return;
      case 'GERRORN':
        this.regs.set(name, value);
        return;
      default:
        this.regs.set(name, value);
    }
  }

  private enabled(f: typeof CR0.SMMUEN): boolean {
    return regField(this.regs.get('CR0')!, f) === 1;
  }

  private strtab(): StreamTableRegs {
    const base = this.regs.get('STRTAB_BASE')!;
    const cfg = this.regs.get('STRTAB_BASE_CFG')!;
    return {
      base: regField(base, STRTAB_BASE.ADDR) * 64,
      twoLevel: regField(cfg, STRTAB_BASE_CFG.FMT) === STRTAB_FMT_2LVL,
      log2size: Math.min(regField(cfg, STRTAB_BASE_CFG.LOG2SIZE), this.caps.sidBits),
      split: regField(cfg, STRTAB_BASE_CFG.SPLIT),
    };
  }

  private queue(base: RegName): QueueRegs {
    const v = this.regs.get(base)!;
    const max = base === 'CMDQ_BASE' ? this.caps.cmdqs : base === 'EVENTQ_BASE' ? this.caps.eventqs : this.caps.priqs;
    return { addr: regField(v, Q_BASE.ADDR) * 32, log2: Math.min(regField(v, Q_BASE.LOG2SIZE), max) };
  }

  // ---- command queue consumer ----------------------------------------------------------

  private consumeCommands(): void {
    if (!this.cmdqen) return;
    const q = this.cmdqRegs;
    let cons = Number(this.regs.get('CMDQ_CONS')!);
    if (((cons >>> CMDQ_CONS_ERR.lo) & (POW2[CMDQ_CONS_ERR.width] - 1)) !== 0) return; // stopped until the error is cleared
    const prod = Number(this.regs.get('CMDQ_PROD')!) & qMask(q.log2);
    const words = this.cmdWords;
    while (!qEmpty(prod, cons, q.log2)) {
      const at = q.addr + qIndex(cons, q.log2) * CMD_BYTES;
      this.bus.readWords(at, words);
      const err = executeCommand(words, this.sinks);
      this.logExecuted(words);
      if (err !== 0) {
        this.regs.set('CMDQ_CONS', regWith(BigInt(cons), CMDQ_CONS_ERR, err));
        const g = this.regs.get('GERROR')!;
        this.regs.set('GERROR', regWith(g, GERROR.CMDQ_ERR, regField(g, GERROR.CMDQ_ERR) ^ 1));
        return;
      }
      cons = qInc(cons, q.log2);
    }
    this.regs.set('CMDQ_CONS', BigInt(cons));
  }

  private logExecuted(words: Uint32Array): void {
    this.executed.push({ op: words[0] & 0xff, words: [words[0], words[1], words[2], words[3]] });
    // Trimmed in batches, so the log costs O(1) per command.
    if (this.executed.length >= 2 * EXECUTED_LOG) this.executed.splice(0, this.executed.length - EXECUTED_LOG);
  }

  // ---- event and PRI queue producers -----------------------------------------------------

  /** Appends an entry to the event or PRI queue; false when disabled or full (overflow flagged). */
  private produce(base: RegName, prodReg: RegName, consReg: RegName, enable: typeof CR0.SMMUEN, bytes: number, words: Uint32Array): boolean {
    if (!this.enabled(enable)) return false;
    const q = this.queue(base);
    const prodV = this.regs.get(prodReg)!;
    const prod = Number(prodV & 0x7fffffffn);
    const cons = Number(this.regs.get(consReg)! & 0x7fffffffn);
    if (qFull(prod, cons, q.log2)) {
      // Overflow: PROD.OVFLG is made to differ from CONS.OVACKFLG.
      const ack = regField(this.regs.get(consReg)!, Q_OVERFLOW);
      this.regs.set(prodReg, regWith(prodV, Q_OVERFLOW, ack ^ 1));
      this.assertIrq(base);
      return false;
    }
    this.bus.writeWords(q.addr + qIndex(prod, q.log2) * bytes, words);
    this.regs.set(prodReg, (prodV & 0x80000000n) | BigInt(qInc(prod, q.log2)));
    this.assertIrq(base);
    return true;
  }

  /** A queue that received an entry (or overflowed) asserts its line when IRQ_CTRL enables it. */
  private assertIrq(base: RegName): void {
    const ctrl = this.regs.get('IRQ_CTRL')!;
    if (base === 'EVENTQ_BASE' && regField(ctrl, IRQ_CTRL.EVENTQ_IRQEN)) this.pendingIrqs.add('eventq');
    if (base === 'PRIQ_BASE' && regField(ctrl, IRQ_CTRL.PRIQ_IRQEN)) this.pendingIrqs.add('priq');
  }

  // ---- translation -------------------------------------------------------------------------

  /** The hardware: translate one DMA (DmaRequest) to a host frame or a fault record. */
  translate(req: DmaRequest): TranslateResult {
    const r = this.dispatch(req);
    if (this.pendingIrqs.size === 0) return r;
    // The asserted lines interrupt the CPU: the driver's handler reads the queues through the registers.
    const lines = [...this.pendingIrqs];
    this.pendingIrqs.clear();
    if (this.irqHandler) for (const line of lines) this.irqHandler(line);
    return r;
  }

  /**
   * The translation `translate` makes for `req`, by the same code, each structure read recorded
   * into `tracer`, with no side effect: no cache or ATC filled or touched, no event, stall, page
   * request or interrupt. With `caches`, the ATC (of an ATS endpoint), the configuration cache
   * and the TLB are probed first, as the DMA would consult them, and a hit is used.
   */
  walk(req: DmaRequest, tracer: WalkTracer, options?: { caches?: boolean }): TranslateResult {
    return this.walker.traced(tracer, options?.caches === true, () => this.dispatch(req));
  }

  /**
   * One request, as the walker's mode says: a DMA consults and fills the ATC and caches and
   * reports its fault; a traced walk consults them only when asked and reports nothing.
   */
  private dispatch(req: DmaRequest): TranslateResult {
    if (req.translated) return this.translated(req, req.iovaFrame);
    const ep = this.endpoints.peek(req.rid);
    if (ep !== undefined && ep.atsEnabled) return this.throughAtc(req);
    if (!this.smmuen) return this.disabled(req);
    const r = this.walker.translate(this.strtabRegs, req.rid, req.pasid, req.iovaFrame, req.write, req.privileged);
    return typeof r === 'number' ? r : this.faulted(req, r);
  }

  /**
   * A request of an endpoint with ATS enabled: it answers from its ATC first, and then puts a
   * Translated transaction on the bus carrying the address the ATC gave it; otherwise the SMMU
   * translates it and the endpoint caches the completed translation.
   */
  private throughAtc(req: DmaRequest): TranslateResult {
    const sid = req.rid;
    if (this.walker.caches) {
      const v = this.endpoints.atcLookup(sid, req.pasid, req.iovaFrame);
      const hit = v !== undefined && (v & (req.write ? ATC_WRITE : ATC_READ)) !== 0;
      const t = this.walker.tracer;
      if (t !== null) {
        t.probe(CACHE_ATC, hit);
        if (hit) t.leaf({ read: (v & ATC_READ) !== 0, write: (v & ATC_WRITE) !== 0 }, 4096n);
      }
      if (hit) return this.translated(req, Math.floor(v / 4));
    }
    if (!this.smmuen) return this.disabled(req);
    const r = this.walker.translate(this.strtabRegs, sid, req.pasid, req.iovaFrame, req.write, req.privileged);
    if (typeof r !== 'number') return this.faulted(req, r);
    if (this.walker.fill) {
      const v = atcEntry(this.walker, this.atschk, r, req.privileged);
      if (v >= 0) this.endpoints.atcInsert(sid, req.pasid, req.iovaFrame, v);
    }
    return r;
  }

  /** A request while SMMU_CR0.SMMUEN is 0: GBPA decides. */
  private disabled(req: DmaRequest): TranslateResult {
    if (regField(this.regs.get('GBPA')!, GBPA.ABORT)) return silentAbort(req, 'GBPA_ABORT');
    // SMMUv3 §3.4: with SMMUEN = 0 an input address beyond the OAS aborts, and no event is recorded.
    if (req.iovaFrame >= POW2[this.caps.oasBits - 12]) return silentAbort(req, 'ABORT', 'input address beyond the OAS while SMMU_CR0.SMMUEN is 0');
    return req.iovaFrame;
  }

  /** A translation fault: a DMA reports it (event queue, stall, page request); a traced walk only describes it. */
  private faulted(req: DmaRequest, r: HwFault): TranslateResult {
    const iova = busAddress(req.iovaFrame, req.offset);
    return this.walker.fill ? this.reporter.report(r, req, iova, false) : faultRecord(r, req, iova, false);
  }

  /** A Translated transaction carrying `frame` (SMMUv3 §3.9.1.3, SMMU_CR0.ATSCHK). */
  private translated(req: DmaRequest, frame: number): TranslateResult {
    const ctx = { walker: this.walker, caps: this.caps, strtab: this.strtabRegs, smmuen: this.smmuen, atschk: this.atschk };
    const r = checkTranslated(ctx, req.rid, frame, req.write);
    if (typeof r === 'number') return r;
    const iova = busAddress(frame, req.offset);
    return this.walker.fill ? this.reporter.report(r, req, iova, true) : faultRecord(r, req, iova, true);
  }

  // ---- PCIe side of the endpoints (config space writes by the driver) ------------------------

  /** Enables or disables ATS / PRI in the endpoint's PCIe capability. Disabling ATS empties its ATC. */
  configureEndpoint(sid: number, cfg: { ats?: boolean; pri?: boolean }): void {
    const ep = this.endpoints.get(sid);
    if (cfg.ats !== undefined) {
      ep.atsEnabled = cfg.ats;
      if (!cfg.ats) ep.atc.clear();
    }
    if (cfg.pri !== undefined) ep.priEnabled = cfg.pri;
  }
}
