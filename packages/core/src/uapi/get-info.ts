import type { IoasidInfo, NestingKind, PgtableFormat } from '../base/info.js';
import { intersectRanges } from '../rules/ranges.js';
import type { FdContext } from './fd-context.js';
import type { IoasidObject } from './ioasid.js';
import { copyOut } from './validate.js';

/** GET_INFO of an IOASID: a copy the caller owns. */
export function getInfo(ctx: FdContext, ioasid: number): IoasidInfo {
  return copyOut(ioasidInfo(ctx, ctx.get(ioasid)));
}

/**
 * Before any device is attached: only the protocol and nesting. After: the capabilities of the
 * attached devices intersected, narrowed to what the domain itself allows.
 */
export function ioasidInfo(ctx: FdContext, o: IoasidObject): IoasidInfo {
  const own = o.domain.info();
  const devs = ctx.held.devices(o);
  if (devs.length === 0) {
    return {
      protocols: [o.protocol],
      nesting: o.nesting,
      pageSizes: [],
      permittedRanges: [],
      formats: [],
      pasidTableFormats: [],
      pasidBits: 0,
      coherent: false,
      enqcmd: false,
      pageRequest: false,
      ats: false,
      dirtyTracking: false,
    };
  }
  const caps = devs.map((d) => ctx.host.driver.capabilities(d.desc));
  let info = caps[0];
  for (const c of caps.slice(1)) info = intersectInfo(info, c);
  return {
    ...info,
    dirtyTracking: info.dirtyTracking === true && typeof o.domain.readDirty === 'function',
    nesting: o.parent ? o.nesting : info.nesting,
    pageSizes: info.pageSizes.filter((s) => own.pageSizes.includes(s)),
    permittedRanges: intersectRanges(info.permittedRanges, own.permittedRanges),
  };
}

const NESTING_ORDER: NestingKind[] = ['none', 'software', 'hardware'];

function sameFormat(a: PgtableFormat, b: PgtableFormat): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function intersectInfo(a: IoasidInfo, b: IoasidInfo): IoasidInfo {
  return {
    protocols: a.protocols.filter((p) => b.protocols.includes(p)),
    nesting: NESTING_ORDER[Math.min(NESTING_ORDER.indexOf(a.nesting), NESTING_ORDER.indexOf(b.nesting))],
    pageSizes: a.pageSizes.filter((s) => b.pageSizes.includes(s)),
    permittedRanges: intersectRanges(a.permittedRanges, b.permittedRanges),
    formats: a.formats.filter((f) => b.formats.some((g) => sameFormat(f, g))),
    pasidTableFormats: a.pasidTableFormats.filter((f) => b.pasidTableFormats.some((g) => sameFormat(f, g))),
    pasidBits: Math.min(a.pasidBits, b.pasidBits),
    coherent: a.coherent && b.coherent,
    enqcmd: a.enqcmd && b.enqcmd,
    pageRequest: a.pageRequest && b.pageRequest,
    ats: a.ats && b.ats,
    dirtyTracking: a.dirtyTracking === true && b.dirtyTracking === true,
  };
}
