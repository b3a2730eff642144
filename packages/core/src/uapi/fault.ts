import { fail, type FaultRecord } from '../base/errors.js';
import type { PageResponseCode } from '../driver/driver.js';
import type { IoFault } from '../faults/fault-queue.js';
import { topologyOf } from '../rules/groups.js';
import type { PageResponseArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import type { Attachment, FdDevice } from './ioasid.js';
import { copyOut, onlyKeys, show } from './validate.js';

/** I/O page faults: reported per IOASID (READ_FAULTS), page requests answered with PAGE_RESPONSE. */

const FIELDS = ['ioasid', 'id', 'code'] as const;

/** READ_FAULTS: the unread faults, oldest first, as copies (the pending page requests stay the fd's). */
export function readFaults(ctx: FdContext, ioasid: number): IoFault[] {
  return copyOut(ctx.get(ioasid).faults.drain());
}

export function pageResponse(ctx: FdContext, args: PageResponseArgs): void {
  const a = ctx.args(args, 'PAGE_RESPONSE');
  const o = ctx.get(a.ioasid);
  onlyKeys(a, FIELDS, 'PAGE_RESPONSE');
  const code = a.code as PageResponseCode;
  if (!['success', 'invalid', 'failure'].includes(code)) {
    fail('EINVAL', `code must be 'success', 'invalid' or 'failure' (got ${show(code)})`);
  }
  const id = a.id;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) fail('EINVAL', `id must be the id of a page request READ_FAULTS returned (got ${show(id)})`);
  const f = o.faults.pending.get(id);
  if (!f) fail('ENOENT', `no pending page request with id ${id} on IOASID ${o.id}`);
  o.faults.pending.delete(f.id);
  const dev = ctx.host.device(f.device);
  const wire = f.record.pasid;
  ctx.host.driver.pageResponse?.(dev.desc, wire ?? -1, f.record, code);
  dev.receivePageResponse({ pasid: f.pasid, iova: f.iova, code });
}

/** Routes a DMA fault to the IOASID the request was attached to. */
export function reportFault(ctx: FdContext, dev: FdDevice, record: FaultRecord): void {
  if (!topologyOf(ctx.host).has(dev)) return;
  const att = routeOf(ctx, dev, record.pasid);
  if (!att) return;
  const pageRequest = record.pageRequest === true && dev.desc.pri;
  att.ioasid.faults.push({
    id: ctx.nextFaultId++,
    ioasid: att.ioasid.id,
    label: dev.label,
    device: dev.name,
    // A guest-owned PASID table takes the device's whole PASID space: its PASIDs are the guest's own.
    pasid: att.userPasid ?? (att.ioasid.protocol === 'user-pasid-table' && record.pasid !== undefined && record.pasid >= 0 ? record.pasid : undefined),
    iova: record.iova,
    write: record.write,
    kind: pageRequest ? 'page-request' : 'unrecoverable',
    record,
  });
}

/** An mdev's faults come by the host PASID it was given; a pdev's by its PASID, else its RID. */
function routeOf(ctx: FdContext, dev: FdDevice, wirePasid: number | undefined): Attachment | undefined {
  if (dev.fd !== ctx.fd) return undefined;
  const r = dev.routes;
  if (dev.kind === 'mdev') return wirePasid === undefined || wirePasid < 0 ? undefined : r.onWire(wirePasid);
  if (wirePasid === undefined || wirePasid < 0) return r.top(undefined);
  return r.top(wirePasid) ?? r.top(undefined);
}
