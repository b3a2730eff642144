import { fail, type DmaRequest, type FaultRecord, type HostMemory, type IommuUnit, type TranslateResult, type WalkTracer } from '@ioasid/core';
import { IOHGATP_MODE, pdModeFromPdtp, svFromIosatpMode } from '../tables/atp.js';
import type { DeviceContext } from '../tables/device-context.js';
import { CAUSE, FAULT_CATALOGUE, causeName } from '../tables/fault-catalogue.js';
import { TTYP } from '../tables/fault-record.js';
import type { ProcessContext } from '../tables/process-context.js';
import { consumeCommands, type CommandCounts } from './command-consumer.js';
import { fetchDeviceContext, ddtpModeName } from './device-context-fetch.js';
import { DirectoryCaches } from './directory-caches.js';
import { hitDirtyOk, hitFrame, hitPerms, hitS1Perms, Iotlb, NO_ID, tlbTag } from './iotlb.js';
import { queueFault, queuePageRequest } from './output-queues.js';
import { fetchProcessContext } from './process-context-fetch.js';
import { CSR_RW, RegisterFile, RW1C } from './register-file.js';
import { CQCSR, DDTP, DDTP_MODE, FQCSR, PQCSR, REGISTERS, decodeCapabilities, decodeQueueBase, type Capabilities, type DdtpMode as DdtpModeName, type RegName } from './registers.js';
import { leafDirty, leafFrame, leafPages, leafPerms, stageConfig, walkStage, type StageConfig, type TableFetch } from './sv-walk.js';
import { inMemory, isFault, type WalkEnv, type WalkFault } from './walk-env.js';

/** The translation context a request resolves to before the page walk. */
class Route {
  /** IOTLB tag indices: of this route's translations, and of its G-stage alone (table pages). */
  tag = 0;
  gTag = 0;

  constructor(
    readonly dc: DeviceContext,
    readonly g: StageConfig | null,
    readonly gscid: number,
    readonly s1: StageConfig | null,
    readonly pscid: number,
    readonly supervisor: boolean,
    readonly sum: boolean,
  ) {}
}

const USER_READ = { write: false, supervisor: false, sum: false };
const USER_WRITE = { write: true, supervisor: false, sum: false };

const EXPLAIN = new Map(FAULT_CATALOGUE.map((f) => [f.code, f.explain]));

/** Causes reported before a device context is located: DC.tc.DTF cannot silence them. */
const BEFORE_DC: ReadonlySet<number> = new Set([CAUSE.DMA_DISABLED, CAUSE.DDT_LOAD_FAULT, CAUSE.DDT_INVALID, CAUSE.DDT_MISCONFIGURED, CAUSE.TTYP_BLOCKED]);

/**
 * The RISC-V IOMMU hardware: the register file, the DDT/PDT caches and the IOTLB, the command
 * queue consumer, the fault and page-request queue producers, and the translation process of
 * spec §2.3. It reads only its registers and host memory.
 */
export class RiscvIommu implements IommuUnit {
  readonly regs: RegisterFile;
  readonly caps: Capabilities;
  readonly dirs = new DirectoryCaches<Route>();
  /** ddtp decoded when written (the hot path reads numbers, not the register's bigint). */
  private ddtpMode: DdtpModeName = 'Off';
  /** ddtp names a device directory (1LVL–3LVL): requests translate through device contexts. */
  private tables = false;
  private ddtpRoot = 0;
  private readonly env: WalkEnv;
  readonly iotlb = new Iotlb();
  /** Commands executed, by name. */
  readonly commands: CommandCounts = {};
  /** Page-request group responses that reached devices (ATS.PRGR), oldest first, bounded. */
  readonly responses: { rid: number; pid?: number; prgIndex: number; code: number }[] = [];
  private nextPrgi = 0;

  constructor(
    readonly mem: HostMemory,
    capabilities: bigint,
  ) {
    this.regs = new RegisterFile(capabilities);
    this.caps = decodeCapabilities(capabilities);
    this.env = { mem, caps: this.caps, tracer: undefined };
  }

  registers(): Record<string, bigint> {
    return this.regs.snapshot();
  }

  read(name: string): bigint {
    if (!(name in REGISTERS)) fail('EINVAL', `riscv-iommu has no register '${name}'`);
    return this.regs.get(name as RegName);
  }

  write(name: string, value: bigint): void {
    if (!(name in REGISTERS)) fail('EINVAL', `riscv-iommu has no register '${name}'`);
    const r = name as RegName;
    const old = this.regs.get(r);
    switch (r) {
      case 'capabilities':
      case 'fctl': // BE, WSI and GXL are not writable on this unit (END = 0, IGS = MSI, no Sv32)
      case 'cqh':
      case 'fqt':
      case 'pqt':
        return;
      case 'ddtp': {
        const mode = Number(value & 0xfn);
        if (mode > DDTP_MODE['3LVL']) return; // WARL: an unsupported mode leaves the register as it was
        this.regs.set('ddtp', value & ((((1n << 44n) - 1n) << BigInt(DDTP.PPN.lo)) | 0xfn));
        this.ddtpMode = ddtpModeName(mode) ?? 'Off';
        this.tables = this.ddtpMode !== 'Off' && this.ddtpMode !== 'Bare';
        this.ddtpRoot = Number((value >> BigInt(DDTP.PPN.lo)) & ((1n << 44n) - 1n));
        return;
      }
      case 'cqt':
        this.regs.set('cqt', value % BigInt(decodeQueueBase(this.regs.get('cqb')).entries));
        consumeCommands(this.commandTargets(), this.commands);
        return;
      case 'fqh':
      case 'pqh':
        this.regs.set(r, value % BigInt(decodeQueueBase(this.regs.get(r === 'fqh' ? 'fqb' : 'pqb')).entries));
        return;
      case 'cqcsr':
      case 'fqcsr':
      case 'pqcsr': {
        const rw = CSR_RW[r]!;
        const cleared = old & ~(value & RW1C[r]!);
        let next = (cleared & ~rw) | (value & rw);
        const en = (value & 1n) !== 0n;
        const on = r === 'cqcsr' ? CQCSR.cqon : r === 'fqcsr' ? FQCSR.fqon : PQCSR.pqon;
        const wasOn = (old >> BigInt(on.lo)) & 1n;
        if (en && !wasOn) {
          // Enabling resets the hardware-owned index (spec §5.15–5.17).
          this.regs.set(r === 'cqcsr' ? 'cqh' : r === 'fqcsr' ? 'fqt' : 'pqt', 0n);
          next |= 1n << BigInt(on.lo);
        } else if (!en) next &= ~(1n << BigInt(on.lo));
        this.regs.set(r, next);
        if (r === 'cqcsr') consumeCommands(this.commandTargets(), this.commands);
        return;
      }
      case 'ipsr':
        this.regs.set('ipsr', old & ~(value & RW1C.ipsr!));
        return;
      default:
        this.regs.set(r, value);
    }
  }

  private commandTargets() {
    return {
      mem: this.mem,
      regs: this.regs,
      dirs: this.dirs,
      iotlb: this.iotlb,
      prgr: (rid: number, pid: number | undefined, prgIndex: number, code: number) => {
        this.responses.push({ rid, pid, prgIndex, code });
        if (this.responses.length > 256) this.responses.shift();
      },
      atsInval: () => {
        // The endpoints' ATCs are not modelled: a translated request is checked against EN_ATS only.
      },
    };
  }

  translate(req: DmaRequest): TranslateResult {
    return this.process(req, this.env, true);
  }

  walk(req: DmaRequest, tracer: WalkTracer, options?: { caches?: boolean }): TranslateResult {
    return this.process(req, { mem: this.mem, caps: this.caps, tracer }, options?.caches === true);
  }

  /** The translation process of spec §2.3 for one request. */
  private process(req: DmaRequest, env: WalkEnv, caches: boolean): TranslateResult {
    const route = caches && this.tables && !req.translated ? this.dirs.derived(req.rid, DirectoryCaches.requestKey(req.pasid, req.privileged)) : undefined;
    if (route === undefined) return this.processUncached(req, env, caches);
    env.tracer?.probe('DDT cache', true);
    return this.viaRoute(req, env, route, caches);
  }

  /** The translation process when no derived context serves the request: DDT off or bare, a translated request, or a device context to locate. */
  private processUncached(req: DmaRequest, env: WalkEnv, caches: boolean): TranslateResult {
    const mode = this.ddtpMode;
    if (mode === 'Off') return this.report(env, req, { cause: CAUSE.DMA_DISABLED }, undefined);
    if (mode === 'Bare') {
      if (req.translated) return this.report(env, req, { cause: CAUSE.TTYP_BLOCKED, why: 'translated request with iommu_mode Bare' }, undefined);
      return this.finalFrame(env, req, req.iovaFrame, undefined);
    }
    const pasid = req.pasid >= 0 ? req.pasid : undefined;
    const route = this.locate(env, req, mode, pasid, DirectoryCaches.requestKey(req.pasid, req.privileged), caches);
    if (!(route instanceof Route)) return route;
    return this.viaRoute(req, env, route, caches);
  }

  /** With the route known: the IOTLB, else the walk. */
  private viaRoute(req: DmaRequest, env: WalkEnv, route: Route, caches: boolean): TranslateResult {
    if (caches) {
      const hit = this.iotlb.lookup(route.tag, req.iovaFrame, env.tracer);
      env.tracer?.probe('IOTLB', hit >= 0);
      if (hit >= 0) {
        if ((hitPerms(hit) & (req.write ? 2 : 1)) === 0) return this.deniedByIotlb(env, req, route, hit);
        if (!req.write || hitDirtyOk(hit)) {
          if (env.tracer) this.traceHit(env.tracer, hit);
          return hitFrame(hit);
        }
      }
    }
    return this.walkRoute(env, req, route, caches);
  }

  private traceHit(tracer: WalkTracer, hit: number): void {
    tracer.leaf({ read: (hitPerms(hit) & 1) !== 0, write: (hitPerms(hit) & 2) !== 0 }, BigInt(this.iotlb.lastHitPages()) * 4096n);
  }

  /**
   * Steps 1–16 of §2.3 without the derived-context cache: the device context (DDT cache or DDT),
   * a translated request's checks, then the route, cached when the walk is not a trace.
   */
  private locate(env: WalkEnv, req: DmaRequest, mode: DdtpModeName, pasid: number | undefined, key: number, caches: boolean): Route | TranslateResult {
    const rid = req.rid;
    let dc = caches ? this.dirs.ddt.get(rid) : undefined;
    env.tracer?.probe('DDT cache', dc !== undefined);
    if (!dc) {
      const got = fetchDeviceContext(env, mode, this.ddtpRoot, rid);
      if (isFault(got)) return this.report(env, req, got, undefined);
      dc = got;
      if (!env.tracer) this.dirs.ddt.set(rid, dc);
    }
    if (req.translated) {
      if (!dc.tc.EN_ATS) return this.report(env, req, { cause: CAUSE.TTYP_BLOCKED, why: 'translated request from a device without EN_ATS' }, dc);
      return this.finalFrame(env, req, req.iovaFrame, dc); // T2GPA = 0: a translated address is an SPA
    }
    const route = this.route(env, req, dc, pasid, caches);
    if (isFault(route)) return this.report(env, req, route, dc);
    route.tag = this.iotlb.tagId(tlbTag(route.g ? route.gscid : NO_ID, route.s1 ? route.pscid : NO_ID, route.supervisor));
    route.gTag = this.iotlb.tagId(tlbTag(route.gscid, NO_ID, false));
    if (!env.tracer && caches) this.dirs.setDerived(rid, key, route);
    return route;
  }

  /** An IOTLB entry that denies the access: a page fault when its first stage denied it, else a guest-page fault. */
  private deniedByIotlb(env: WalkEnv, req: DmaRequest, route: Route, hit: number): FaultRecord {
    const write = req.write;
    if (route.s1 && (hitS1Perms(hit) & (write ? 2 : 1)) === 0) return this.report(env, req, { cause: write ? CAUSE.WRITE_PAGE_FAULT : CAUSE.READ_PAGE_FAULT, recoverable: true, why: 'IOTLB entry denies the access' }, route.dc);
    return this.report(env, req, { cause: write ? CAUSE.WRITE_GUEST_PAGE_FAULT : CAUSE.READ_GUEST_PAGE_FAULT, why: 'IOTLB entry denies the access' }, route.dc);
  }

  /** Steps 17–20 of §2.3: the two-stage walk (the first stage with the G-stage translation of each of its table pages), then the IOTLB fill. */
  private walkRoute(env: WalkEnv, req: DmaRequest, route: Route, caches: boolean): TranslateResult {
    const { iovaFrame, write } = req;
    const dc = route.dc;
    const acc = route.supervisor ? { write, supervisor: true, sum: route.sum } : write ? USER_WRITE : USER_READ;
    let gpa = iovaFrame;
    let pages = 2 ** 36;
    let perms = 3;
    let s1perms = 3;
    let dirty = true;
    if (route.s1) {
      const s1 = walkStage(env, route.s1, iovaFrame, acc, route.g ? this.tableFetch(env, route, write, caches) : undefined);
      if (typeof s1 !== 'number') return this.report(env, req, s1, dc);
      gpa = leafFrame(s1);
      pages = leafPages(s1);
      s1perms = leafPerms(s1);
      perms = s1perms;
      dirty = leafDirty(s1);
    }
    let frame = gpa;
    if (route.g) {
      const g = walkStage(env, route.g, gpa, write ? USER_WRITE : USER_READ);
      if (typeof g !== 'number') return this.report(env, req, g, dc);
      frame = leafFrame(g);
      pages = Math.min(pages, leafPages(g));
      perms &= leafPerms(g);
      dirty &&= leafDirty(g);
    }
    const out = this.finalFrame(env, req, frame, dc);
    if (typeof out !== 'number') return out;
    if (!route.s1 && !route.g) pages = 1;
    env.tracer?.leaf({ read: (perms & 1) !== 0, write: (perms & 2) !== 0 }, BigInt(pages) * 4096n);
    if (!env.tracer && (route.s1 || route.g)) {
      const off = pages === 1 ? 0 : iovaFrame % pages;
      this.iotlb.insert(route.tag, iovaFrame - off, frame - off, pages, perms, s1perms, dirty && (perms & 2) !== 0);
    }
    return frame;
  }

  /**
   * The G-stage translation of a first-stage table page: an IOTLB entry of the GSCID (GPA → SPA,
   * as a G-stage-only request would cache it) serves a read.
   */
  private tableFetch(env: WalkEnv, route: Route, write: boolean, caches: boolean): TableFetch {
    const g = route.g!;
    const gTag = route.gTag;
    return (gf: number, w: boolean) => {
      if (!w && caches) {
        const hit = this.iotlb.lookup(gTag, gf);
        env.tracer?.probe('IOTLB (G-stage of a table page)', hit >= 0);
        if (hit >= 0 && (hitPerms(hit) & 1) !== 0) return hitFrame(hit);
      }
      const t = walkStage(env, g, gf, w ? USER_WRITE : USER_READ);
      if (typeof t === 'number') {
        const frame = leafFrame(t);
        if (!env.tracer && caches) {
          const pages = leafPages(t);
          const off = pages === 1 ? 0 : gf % pages;
          this.iotlb.insert(gTag, gf - off, frame - off, pages, leafPerms(t), 3, leafDirty(t) && (leafPerms(t) & 2) !== 0);
        }
        return frame;
      }
      return t.gpa !== undefined ? { ...t, cause: write ? CAUSE.WRITE_GUEST_PAGE_FAULT : CAUSE.READ_GUEST_PAGE_FAULT, implicit: true } : t;
    };
  }

  /** Steps 9–16 of §2.3: the stages, IDs and privilege a request uses, with the PC when there is one. */
  private route(env: WalkEnv, req: DmaRequest, dc: DeviceContext, pasid: number | undefined, caches: boolean): Route | WalkFault {
    const g = dc.iohgatp.MODE === IOHGATP_MODE.Bare ? null : this.stage(dc.iohgatp.MODE, true, dc.iohgatp.PPN, dc.tc.GADE);
    const gscid = dc.iohgatp.GSCID;
    if (!dc.tc.PDTV) {
      if (pasid !== undefined) return { cause: CAUSE.TTYP_BLOCKED, why: 'PASID-tagged request and DC.tc.PDTV = 0' };
      const s1 = dc.fsc.MODE === 0 ? null : this.stage(dc.fsc.MODE, false, dc.fsc.PPN, dc.tc.SADE);
      return new Route(dc, g, gscid, s1, dc.ta.PSCID, false, false);
    }
    const pdMode = pdModeFromPdtp(dc.fsc.MODE);
    if (pasid === undefined && !dc.tc.DPE) return new Route(dc, g, gscid, null, NO_ID, false, false);
    const pid = pasid ?? 0;
    if (pdMode && pid >= 2 ** (pdMode === 'PD8' ? 8 : pdMode === 'PD17' ? 17 : 20)) return { cause: CAUSE.TTYP_BLOCKED, why: `process_id ${pid} wider than ${pdMode}` };
    if (!pdMode) return new Route(dc, g, gscid, null, NO_ID, false, false);
    const key = DirectoryCaches.pdtKey(req.rid, pid);
    let pc: ProcessContext | undefined = caches ? this.dirs.pdt.get(key) : undefined;
    env.tracer?.probe('PDT cache', pc !== undefined);
    if (!pc) {
      const fetch = (gf: number) => {
        if (!g) return gf;
        const t = walkStage(env, g, gf, USER_READ);
        if (typeof t === 'number') return leafFrame(t);
        return t.gpa !== undefined ? { ...t, cause: req.write ? CAUSE.WRITE_GUEST_PAGE_FAULT : CAUSE.READ_GUEST_PAGE_FAULT } : t;
      };
      const got = fetchProcessContext(env, pdMode, dc.fsc.PPN, pid, fetch);
      if (isFault(got)) return got;
      pc = got;
      if (!env.tracer) this.dirs.pdt.set(key, pc);
    }
    const supervisor = req.privileged && pasid !== undefined;
    if (supervisor && !pc.ENS) return { cause: CAUSE.TTYP_BLOCKED, why: 'supervisor-privilege request and PC.ta.ENS = 0' };
    const s1 = pc.fsc.MODE === 0 ? null : this.stage(pc.fsc.MODE, false, pc.fsc.PPN, dc.tc.SADE);
    return new Route(dc, g, gscid, s1, pc.PSCID, supervisor, pc.SUM);
  }

  private stage(mode: number, x4: boolean, root: number, ade: boolean): StageConfig {
    return stageConfig(svFromIosatpMode(mode)!, x4, root, ade && this.caps.amoHwad);
  }

  /** The output page must have memory behind it (else an access fault). */
  private finalFrame(env: WalkEnv, req: DmaRequest, frame: number, dc: DeviceContext | undefined): TranslateResult {
    if (!inMemory(env, frame * 4096, 4096)) return this.report(env, req, { cause: req.write ? CAUSE.WRITE_ACCESS_FAULT : CAUSE.READ_ACCESS_FAULT, why: `output address 0x${(frame * 4096).toString(16)} outside memory` }, dc);
    return frame;
  }

  /**
   * A fault: the record the bus raises, and (not during a trace) a fault-queue record, or with
   * DC.tc.EN_PRI a page-request record when the guest's own table refused the page.
   */
  private report(env: WalkEnv, req: DmaRequest, f: WalkFault, dc: DeviceContext | undefined): FaultRecord {
    const pasid = req.pasid >= 0 ? req.pasid : undefined;
    const name = causeName(f.cause) ?? 'UNKNOWN';
    const ttyp = req.translated ? (req.write ? TTYP.TranslatedWrite : TTYP.TranslatedRead) : req.write ? TTYP.UntranslatedWrite : TTYP.UntranslatedRead;
    const iotval = BigInt(req.iovaFrame) * 4096n + BigInt(req.offset ?? 0);
    const iotval2 = f.gpa !== undefined ? ((BigInt(f.gpa) >> 2n) << 2n) | (f.implicit ? 1n : 0n) : 0n;
    const pageRequest = f.recoverable === true && dc?.tc.EN_PRI === true;
    const record: FaultRecord = {
      rid: req.rid,
      pasid,
      iova: BigInt(req.iovaFrame) * 4096n,
      write: req.write,
      code: f.cause,
      name,
      explain: EXPLAIN.get(f.cause),
      ttyp,
      did: req.rid,
      iotval,
      iotval2,
      ...(f.why ? { why: f.why } : {}),
    };
    if (env.tracer) return record;
    if (pageRequest) {
      const prgi = this.nextPrgi;
      this.nextPrgi = (this.nextPrgi + 1) % 512;
      queuePageRequest(this.mem, this.regs, { did: req.rid, pid: pasid, priv: req.privileged && pasid !== undefined, exec: false, read: !req.write, write: req.write, last: true, prgi, addr: iotval & ~0xfffn });
      return { ...record, pageRequest: true, prgIndex: prgi };
    }
    if (!dc?.tc.DTF || BEFORE_DC.has(f.cause)) {
      queueFault(this.mem, this.regs, { cause: f.cause, pid: pasid, priv: req.privileged && pasid !== undefined, ttyp, did: req.rid, iotval, iotval2 });
    }
    return record;
  }
}
