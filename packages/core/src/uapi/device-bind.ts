import { fail } from '../base/errors.js';
import { topologyOf } from '../rules/groups.js';
import type { FdContext } from './fd-context.js';
import type { FdDevice } from './ioasid.js';
import { show } from './validate.js';

/** The fd's side of BIND_IOASID_FD: a device joins the fd under a label that names it in faults. */
export function bindDevice(ctx: FdContext, dev: FdDevice, label: string): void {
  ctx.live();
  if (!topologyOf(ctx.host).has(dev) || dev.fd !== undefined) fail('EINVAL', `${show(dev)} is not an unbound device of this machine`);
  if (typeof label !== 'string' || label === '') fail('EINVAL', `label must be a non-empty string (got ${show(label)})`);
  topologyOf(ctx.host).checkBind(dev, ctx.fd);
  if ([...ctx.devices].some((d) => d.label === label)) fail('EEXIST', `label '${label}' is already used by another device on this fd`);
  ctx.host.driver.probeDevice?.(dev.desc);
  dev.fd = ctx.fd;
  dev.label = label;
  ctx.devices.add(dev);
}

export function unbindDevice(ctx: FdContext, dev: FdDevice): void {
  ctx.bound(dev);
  if (dev.routes.count > 0) fail('EBUSY', `device ${dev.name} is still attached; detach it first`);
  ctx.host.driver.releaseDevice?.(dev.desc);
  ctx.devices.delete(dev);
  dev.fd = undefined;
  dev.label = '';
}
