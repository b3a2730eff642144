import { fail } from '../base/errors.js';
import { didYouMean } from '../base/did-you-mean.js';
import type { NestingKind, Protocol } from '../base/info.js';
import type { IommuDomain } from '../driver/driver.js';
import type { AllocArgs, CreateNestingArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import { IoasidObject } from './ioasid.js';
import { removeMap } from './map-dma.js';
import { plainData, show, type Args } from './validate.js';

/** ALLOC / CREATE_NESTING / FREE: the life of an address space; its format is fixed at creation. */

const PROTOCOLS: readonly Protocol[] = ['map', 'user-pgtable', 'user-pasid-table'];

export function alloc(ctx: FdContext, args: AllocArgs): number {
  const { protocol, ...rest } = ctx.args(args, 'ALLOC');
  checkProtocol(protocol);
  if (protocol !== 'map') {
    fail('EINVAL', `protocol '${protocol}' binds a user table that the hardware walks through a parent: create it with CREATE_NESTING`);
  }
  const format = vendorFormat(ctx, rest, protocol, 'ALLOC');
  checkIdSpace(ctx);
  const domain = ctx.host.driver.createDomain({ protocol, format });
  return insert(ctx, domain, (id) => new IoasidObject(id, protocol, format, domain, undefined, 'none'));
}

export function createNesting(ctx: FdContext, args: CreateNestingArgs): number {
  const a = ctx.args(args, 'CREATE_NESTING');
  const parent = ctx.get(a.parent, 'parent');
  ctx.expect(parent, 'map', 'CREATE_NESTING (parent)');
  ctx.groups(parent);
  const { parent: _p, protocol, ...rest } = a;
  checkProtocol(protocol);
  if (parent.parent) fail('EINVAL', `parent ${parent.id} is itself nested in ${parent.parent.id}; only one level of nesting is modelled`);
  checkNestingSupport(ctx, protocol);
  const format = vendorFormat(ctx, rest, protocol, 'CREATE_NESTING');
  checkIdSpace(ctx);
  let nesting: NestingKind;
  let domain: IommuDomain;
  if (protocol === 'map') {
    nesting = 'software';
    domain = ctx.host.driver.createDomain({ protocol, format });
    // The shadow logs writes for a parent that tracks dirty pages (SET_DIRTY_TRACKING on the parent).
    if (parent.dirtyTracking) domain.setDirtyTracking?.(true);
  } else {
    nesting = 'hardware';
    domain = ctx.host.driver.createDomain({ protocol, format, parent: parent.domain });
  }
  return insert(
    ctx,
    domain,
    (id) => {
      const o = new IoasidObject(id, protocol, format, domain, parent, nesting);
      o.dirtyTracking = nesting === 'software' && parent.dirtyTracking;
      return o;
    },
    parent,
  );
}

export function free(ctx: FdContext, ioasid: number): void {
  const o = ctx.get(ioasid);
  if (o.attachments.length > 0) {
    fail('EBUSY', `IOASID ${ioasid} still has devices attached (${o.attachments.map((a) => a.device.name).join(', ')})`);
  }
  if (o.children.size > 0) fail('EBUSY', `IOASID ${ioasid} still has nested children (${[...o.children].map((c) => c.id).join(', ')})`);
  destroy(ctx, o);
}

/** Frees an address space with no attachments left: its maps, domain, PASIDs, KVM translations and number. */
export function destroy(ctx: FdContext, o: IoasidObject): void {
  for (const m of [...o.maps.all()]) removeMap(ctx, o, m);
  o.domain.destroy();
  if (o.globalPasid !== undefined) ctx.host.pasids.free(o.globalPasid);
  ctx.host.kvm.forgetIoasid(ctx.fd, o.id);
  o.parent?.children.delete(o);
  ctx.ioasids.delete(o.id);
  ctx.held.forget(o);
  ctx.ids.free(o.id);
}

function checkProtocol(protocol: unknown): asserts protocol is Protocol {
  if (!PROTOCOLS.includes(protocol as Protocol)) {
    fail('EINVAL', `protocol must be one of ${PROTOCOLS.map((p) => `'${p}'`).join(', ')} (got ${show(protocol)})`);
  }
}

/**
 * The vendor format fields of ALLOC / CREATE_NESTING: only those the driver declares for the
 * protocol (IommuDriver.allocFormatKeys), as a deep copy the caller can no longer change.
 */
function vendorFormat(ctx: FdContext, rest: Args, protocol: Protocol, command: string): Readonly<Record<string, unknown>> {
  const allowed = ctx.host.driver.allocFormatKeys?.[protocol] ?? [];
  for (const key of Object.keys(rest)) {
    if (!allowed.includes(key)) {
      const meant = didYouMean(key, [...allowed, 'protocol', ...(command === 'CREATE_NESTING' ? ['parent'] : [])]);
      fail('EINVAL', `${command}: the ${ctx.host.vendor} driver takes no format field '${key}' for protocol '${protocol}' (it takes ${allowed.length ? allowed.join(', ') : 'none'})${meant}`);
    }
  }
  return plainData(rest, 'format') as Record<string, unknown>;
}

function checkIdSpace(ctx: FdContext): void {
  if (ctx.ids.available === 0) fail('ENOSPC', `all ${ctx.ids.capacity} IOASID numbers of this fd are in use (IOASID_LIMIT)`);
}

/**
 * Software nesting ('map') is core's and always there; a binding protocol needs the vendor:
 * some device of the machine must list it in GET_INFO, else EOPNOTSUPP before anything is allocated.
 */
function checkNestingSupport(ctx: FdContext, protocol: Protocol): void {
  if (protocol === 'map') return;
  const offered = ctx.host.deviceList.some((d) => {
    try {
      return ctx.host.driver.capabilities(d.desc).protocols.includes(protocol);
    } catch {
      return false;
    }
  });
  if (!offered) fail('EOPNOTSUPP', `the ${ctx.host.vendor} driver offers no '${protocol}' protocol (no device lists it in GET_INFO): no hardware nesting of that kind`);
}

/**
 * Registers an address space whose domain the driver just built. The IOASID's own bookkeeping
 * is the last thing allocated (an injected failure gives the domain back), and its number is
 * taken once nothing can fail any more.
 */
function insert(ctx: FdContext, domain: IommuDomain, make: (id: number) => IoasidObject, parent?: IoasidObject): number {
  try {
    ctx.host.injector.check('ioasid');
  } catch (e) {
    domain.destroy();
    throw e;
  }
  const o = make(ctx.ids.alloc());
  parent?.children.add(o);
  ctx.ioasids.set(o.id, o);
  return o.id;
}
