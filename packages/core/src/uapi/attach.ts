import { fail } from '../base/errors.js';
import { hex } from '../base/args.js';
import { rangeHolding } from '../rules/ranges.js';
import { topologyOf } from '../rules/groups.js';
import type { FdContext } from './fd-context.js';
import type { Attachment, FdDevice, IoasidObject } from './ioasid.js';
import { pasidArg } from './validate.js';

/**
 * ATTACH_IOASID / DETACH_IOASID and the PASID policy: a pdev puts its vPASID on the wire as is;
 * an mdev gets a host PASID of its own, or the IOASID's global PASID when it takes ENQCMD.
 */

export function attachDevice(ctx: FdContext, dev: FdDevice, ioasid: number, userPasid: number | undefined): void {
  ctx.bound(dev);
  const o = ctx.get(ioasid);
  if (userPasid !== undefined) pasidArg(userPasid, 'userPasid');
  const caps = ctx.host.driver.capabilities(dev.desc);
  if (userPasid !== undefined && userPasid >= 2 ** caps.pasidBits) {
    fail('ERANGE', `userPasid ${userPasid} exceeds the ${caps.pasidBits}-bit PASID width of device ${dev.name}`);
  }
  const routes = dev.routes;
  if (routes.find(o, userPasid)) {
    fail('EBUSY', `device ${dev.name} is already attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
  }
  const stack = routes.stack(userPasid);
  const below = stack[stack.length - 1];
  if (o.parent) {
    if (!routes.find(o.parent, undefined)) {
      fail('EINVAL', `device ${dev.name} must be attached to the parent IOASID ${o.parent.id} before its nested child ${ioasid}`);
    }
    if (below && below.ioasid !== o.parent) {
      fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}`);
    }
  } else if (below) {
    fail('EBUSY', `device ${dev.name} already routes ${userPasid === undefined ? 'its RID' : `vPASID ${userPasid}`} to IOASID ${below.ioasid.id}; detach it first`);
  }
  // The group's RID traffic goes to one IOASID (EINVAL); a PASID attachment is the device's own.
  if (userPasid === undefined) topologyOf(ctx.host).checkGroupAttach(dev, o, stack, (d) => d.routes.stack(undefined));
  if (o.protocol === 'user-pasid-table' && routes.hasPasidTable) {
    fail('EBUSY', `device ${dev.name} is already attached to a PASID-table IOASID (one per device)`);
  }
  if (dev.kind === 'pdev' && userPasid !== undefined && dev.desc.enqcmd && ctx.host.kvm.hasMappings) {
    fail('EBUSY', `KVM already translates guest PASIDs for ENQCMD on mdevs; exposing ENQCMD on pdev ${dev.name} too is refused`);
  }
  const permitted = o.domain.permittedAfterAttach?.(dev.desc) ?? caps.permittedRanges;
  for (const m of o.maps.all()) {
    if (!rangeHolding(permitted, m.iova, m.size)) {
      fail('EINVAL', `IOASID ${ioasid} maps ${hex(m.iova)}+${hex(m.size)}, outside what device ${dev.name} permits`);
    }
  }
  if (o.dirtyTracking && caps.dirtyTracking !== true) {
    fail('EINVAL', `IOASID ${ioasid} tracks dirty pages and device ${dev.name} cannot (its GET_INFO says dirtyTracking: false)`);
  }
  if (dev.kind === 'pdev') {
    const reason = o.domain.checkAttach(dev.desc, userPasid, below?.ioasid.domain);
    if (reason) fail('EINVAL', `device ${dev.name} cannot attach to IOASID ${ioasid}: ${reason}`);
  }
  // Validated; now allocate and apply, undoing on failure.
  ctx.host.injector.check('attachment');
  let wirePasid = userPasid;
  let ownsPasid = false;
  if (dev.kind === 'mdev') {
    if (dev.desc.enqcmd) {
      wirePasid = takeGlobalPasid(ctx, o);
    } else {
      wirePasid = ctx.host.pasids.alloc();
      ownsPasid = true;
    }
  }
  const att: Attachment = { device: dev, ioasid: o, userPasid, wirePasid, ownsPasid };
  try {
    if (dev.kind === 'mdev') {
      const reason = o.domain.checkAttach(dev.desc, wirePasid, below?.wirePasid === wirePasid ? below?.ioasid.domain : undefined);
      if (reason) fail('EINVAL', `device ${dev.name} cannot attach to IOASID ${ioasid}: ${reason}`);
    }
    // A nested child takes the route over from the attachment below it in one step.
    o.domain.attach(dev.desc, wirePasid, below && below.wirePasid === wirePasid ? below.ioasid.domain : undefined);
  } catch (e) {
    releasePasid(ctx, o, att);
    throw e;
  }
  o.attachments.push(att);
  dev.routes.add(att);
  ctx.held.added(att);
}

export function detachDevice(ctx: FdContext, dev: FdDevice, ioasid: number, userPasid: number | undefined): void {
  ctx.bound(dev);
  const o = ctx.get(ioasid);
  if (userPasid !== undefined) pasidArg(userPasid, 'userPasid');
  const routes = dev.routes;
  const att = routes.find(o, userPasid);
  if (!att) fail('EINVAL', `device ${dev.name} is not attached to IOASID ${ioasid}${userPasid !== undefined ? ` with vPASID ${userPasid}` : ''}`);
  if (userPasid === undefined && routes.nestedIn(o) > 0) {
    const all = routes.all().filter((a) => a.ioasid.parent === o);
    const stacked = all.find((a) => a.userPasid === undefined) ?? all[0];
    fail('EBUSY', `device ${dev.name} is still attached to IOASID ${stacked.ioasid.id}, nested in ${ioasid}; detach that first`);
  }
  // What was routed below this attachment (the parent, for a nested child) takes over again.
  const stack = routes.stack(userPasid);
  const isTop = stack[stack.length - 1] === att;
  const below = isTop ? stack[stack.length - 2] : undefined;
  o.domain.detach(dev.desc, att.wirePasid, below && below.wirePasid === att.wirePasid ? below.ioasid.domain : undefined);
  o.attachments.splice(o.attachments.lastIndexOf(att), 1);
  routes.remove(att);
  ctx.held.removed(att);
  releasePasid(ctx, o, att);
}

/** The attachments of a device bound to this fd (RID stack first, then its vPASIDs). */
export function attachmentsOf(ctx: FdContext, dev: FdDevice): Attachment[] {
  return ctx.isBound(dev) ? dev.routes.all() : [];
}

/** Host PASID an mdev puts on the wire for its default space (undefined) or a vPASID. */
export function mdevHostPasid(ctx: FdContext, dev: FdDevice, userPasid: number | undefined): number | undefined {
  return ctx.isBound(dev) ? dev.routes.top(userPasid)?.wirePasid : undefined;
}

/** One more user of the IOASID's global PASID (ioasid_get_global_pasid), allocated on first use. */
export function takeGlobalPasid(ctx: FdContext, o: IoasidObject): number {
  if (o.globalPasid === undefined) o.globalPasid = ctx.host.pasids.alloc();
  o.globalPasidUsers++;
  return o.globalPasid;
}

export function putGlobalPasid(ctx: FdContext, ioasid: number): void {
  const o = ctx.ioasids.get(ioasid);
  if (o && o.globalPasid !== undefined && --o.globalPasidUsers === 0) {
    ctx.host.pasids.free(o.globalPasid);
    o.globalPasid = undefined;
  }
}

function releasePasid(ctx: FdContext, o: IoasidObject, a: Attachment): void {
  if (a.ownsPasid && a.wirePasid !== undefined) ctx.host.pasids.free(a.wirePasid);
  else if (a.device.kind === 'mdev' && a.device.desc.enqcmd) putGlobalPasid(ctx, o.id);
}
