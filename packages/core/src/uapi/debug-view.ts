import { fail } from '../base/errors.js';
import { u64 } from '../base/args.js';
import type { DmaRequest, DomainDump, LookupView } from '../driver/driver.js';
import { WalkTracer, type WalkTrace } from '../hw/walk-trace.js';
import type { FdContext } from './fd-context.js';
import type { Attachment, IoasidObject } from './ioasid.js';
import { optionsArg, pasidArg } from './validate.js';

/** DUMP_PGTABLE / LOOKUP: the I/O page table as the driver decodes it from memory. */

export function dumpPgtable(ctx: FdContext, ioasid: number): DomainDump {
  return ctx.get(ioasid).domain.dump();
}

export interface LookupOptions {
  /** The PASID context to look up in a PASID-table IOASID. */
  pasid?: number;
  /** Trace the walk of this attached device's request (default: the first device the IOASID routes). */
  device?: string;
  /** Trace a write rather than a read. */
  write?: boolean;
  /** Let the traced walk probe the translation caches (a stale entry then shows as what a DMA would use). */
  caches?: boolean;
}

export function lookup(ctx: FdContext, ioasid: number, iova: bigint, options: LookupOptions = {}): LookupView {
  const o = ctx.get(ioasid);
  const at = u64(iova, 'iova');
  const opts = optionsArg(options, 'options', ['pasid', 'device', 'write', 'caches']);
  const pasid = opts.pasid === undefined ? undefined : pasidArg(opts.pasid, 'options.pasid');
  if (opts.device !== undefined && typeof opts.device !== 'string') fail('EINVAL', 'options.device must be a device name');
  for (const k of ['write', 'caches'] as const) if (opts[k] !== undefined && typeof opts[k] !== 'boolean') fail('EINVAL', `options.${k} must be a boolean`);
  const view = o.domain.lookup(at, pasid);
  const trace = hardwareWalk(ctx, o, at, pasid, opts as LookupOptions);
  return trace ? { ...view, trace } : view;
}

/** The attachment whose requests reach `o` now: the top of its device's route stack. */
function activeRoute(o: IoasidObject, device: string | undefined): Attachment | undefined {
  return o.attachments.find((a) => (device === undefined || a.device.name === device) && a.device.routes.top(a.userPasid) === a);
}

/**
 * The hardware's own walk of the request an attached device would send for `iova` (a
 * debugger's view, no side effect). Undefined when the unit cannot trace or no device reaches `o`.
 */
function hardwareWalk(ctx: FdContext, o: IoasidObject, iova: bigint, pasid: number | undefined, opts: LookupOptions): WalkTrace | undefined {
  const unit = ctx.host.driver.unit;
  if (typeof unit.walk !== 'function') return undefined;
  if (opts.device !== undefined && !o.attachments.some((a) => a.device.name === opts.device)) {
    fail('EINVAL', `options.device: ${opts.device} is not attached to IOASID ${o.id}`);
  }
  const a = activeRoute(o, opts.device);
  if (!a) return undefined;
  const wire = a.wirePasid ?? (o.protocol === 'user-pasid-table' && pasid !== undefined ? pasid : -1);
  const req: DmaRequest = { rid: a.device.desc.rid, pasid: wire, iovaFrame: Number(iova >> 12n), write: opts.write === true, privileged: false };
  const tracer = new WalkTracer();
  const result = unit.walk(req, tracer, { caches: opts.caches === true });
  return tracer.finish(result, Number(iova & 0xfffn));
}
