import { ConformanceFailure, firstFormat, gpaSpace, newMachine, openFd, spot, supportsUserPgtable, vmmBuffer, granule } from '../../kit.js';
import type { Caps, KitEnv } from '../../types.js';
import { attempt } from '../api.js';
import type { JunkCtx } from './calls.js';
import type { JunkSources } from './values.js';

function need<T>(what: string, fn: () => T): T {
  const r = attempt(what, fn);
  if (!r.ok) throw new ConformanceFailure(`arguments: setting up failed at ${what}: ${r.error?.message ?? ''}`);
  return r.value;
}

/**
 * The state junk calls are made against: dev0 attached to a 'map' IOASID with a page mapped,
 * dev1 bound and free to attach, a spare IOASID, a nested child where the vendor has one, and
 * an unbound device.
 */
export function junkContext(env: KitEnv, caps: Caps): JunkCtx {
  const m = newMachine(env, { guestMemory: 4n << 20n });
  const { fd, devs } = openFd(m, 'dev0', 'dev1');
  const [dev0, dev1] = devs;
  const a = need('ALLOC', () => fd.alloc({ protocol: 'map' }));
  need('ATTACH dev0', () => dev0.attachIoasid(a));
  const info = fd.getInfo(a);
  const g = granule(info, 'GET_INFO');
  const iova = spot(info.permittedRanges, 16n * g, g, 'arguments: a map', 1n << 24n);
  const va = vmmBuffer(m, 8n * g, g);
  need('MAP_DMA', () => fd.mapDma({ ioasid: a, iova, vaddr: va, size: g }));
  const spare = need('ALLOC', () => fd.alloc({ protocol: 'map' }));
  let child = a;
  let childFormat: Record<string, unknown> = { kind: 'x' };
  if (supportsUserPgtable(caps.dev)) {
    const pri = m.device('pri0');
    need('BIND_IOASID_FD(pri0)', () => pri.bindIoasidFd(fd, { label: 'pri0@junk' }));
    const { parent, info: pinfo } = gpaSpace(m, fd, [pri]);
    childFormat = { ...firstFormat(pinfo) };
    child = need('CREATE_NESTING(user-pgtable)', () => fd.createNesting({ parent, protocol: 'user-pgtable' }));
  }
  return { m, fd, a, spare, child, childFormat, va, iova, g, dev0, dev1, free: m.device('pf0') };
}

/** An fd that is closed, and an fd and a device of another machine. */
export function junkSources(env: KitEnv): JunkSources {
  const other = newMachine(env);
  const closedFd = other.openIoasidFd();
  closedFd.close();
  return { closedFd, foreignFd: other.openIoasidFd(), foreignDevice: other.device('dev0') };
}
