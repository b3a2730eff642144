import { isTraceRead, type DomainDump, type DumpTable, type TraceRead, type VendorRegistration, type WalkTrace } from '@ioasid/core';
import type { LoadedScenario } from '../scenario/load.js';
import { runScenario, type ScenarioReport, type StepObserver } from '../scenario/runner.js';
import { optInt, toBig } from '../scenario/values.js';

/** One traced request: the walk the hardware made for a DMA step, and the tables it went through. */
export interface ReportWalk {
  step: number;
  device: string;
  iova: bigint;
  pasid?: number;
  write: boolean;
  trace: WalkTrace;
  /** The IOASIDs whose tables the walk read, dumped at that moment. */
  tables: { ioasid: number; dump: DomainDump }[];
}

export interface VendorReport {
  vendor: string;
  report: ScenarioReport;
  /** The unit's registers when the scenario ended (or stopped). */
  registers: Record<string, bigint>;
  walks: ReportWalk[];
}

export interface ReportData {
  scenario: string;
  title: string;
  file: string;
  vendors: VendorReport[];
}

function tableAddrs(t: DumpTable | null, out: Set<bigint>): Set<bigint> {
  if (!t) return out;
  for (const e of t.entries) {
    out.add(e.entryAddr);
    if (e.child) tableAddrs(e.child, out);
  }
  return out;
}

function dumpAddrs(d: DomainDump, out = new Set<bigint>()): Set<bigint> {
  tableAddrs(d.root, out);
  for (const c of d.children ?? []) dumpAddrs(c, out);
  return out;
}

/** Every entry address a trace read, stage-2 sub-walks included. */
export function traceAddrs(t: WalkTrace): Set<bigint> {
  const out = new Set<bigint>();
  const add = (rs: readonly TraceRead[]): void => {
    for (const r of rs) {
      if (r.addr !== undefined) out.add(r.addr);
      if (r.via) add(r.via);
    }
  };
  add(t.events.filter(isTraceRead));
  return out;
}

/** Runs the scenario on one vendor, tracing every DMA step before it runs. */
export function collectVendor(sc: LoadedScenario, reg: VendorRegistration): VendorReport {
  const walks: ReportWalk[] = [];
  const observe: StepObserver = (phase, step, op, a, state) => {
    if (phase !== 'before' || (op !== 'dma-read' && op !== 'dma-write')) return;
    const device = String(a.device);
    const iova = toBig(a.iova, 'iova');
    const pasid = optInt(a.pasid, 'pasid');
    const write = op === 'dma-write';
    const trace = state.machine.device(device).traceDma(iova, { write, ...(pasid !== undefined ? { pasid } : {}), ...(a.privileged === true ? { privileged: true } : {}) });
    if (!trace) return;
    const read = traceAddrs(trace);
    const tables: ReportWalk['tables'] = [];
    for (const ioasid of state.fd.ioasidIds) {
      const dump = state.fd.dumpPgtable(ioasid);
      const addrs = dumpAddrs(dump);
      if ([...read].some((x) => addrs.has(x))) tables.push({ ioasid, dump });
    }
    walks.push({ step, device, iova, ...(pasid !== undefined ? { pasid } : {}), write, trace, tables });
  };
  const run = runScenario(sc, reg, { observe });
  return { vendor: reg.vendor, report: run.report, registers: run.state ? run.state.machine.iommu.registers() : {}, walks };
}

export function collectReport(sc: LoadedScenario, regs: VendorRegistration[]): ReportData {
  return { scenario: sc.name, title: sc.spec.title, file: sc.file, vendors: regs.map((r) => collectVendor(sc, r)) };
}
