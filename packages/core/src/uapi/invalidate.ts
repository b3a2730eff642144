import { fail } from '../base/errors.js';
import { hex, u64 } from '../base/args.js';
import type { InvalidateRequest } from '../driver/driver.js';
import type { InvalidateArgs } from './command-args.js';
import type { FdContext } from './fd-context.js';
import { onlyKeys, optionalBool, pasidArg, U64_END } from './validate.js';

const FIELDS = ['ioasid', 'all', 'iova', 'size', 'pasid'] as const;

/** INVALIDATE_CACHE: accepted on any IOASID; the driver turns it into the hardware's commands. */
export function invalidateCache(ctx: FdContext, args: InvalidateArgs): void {
  const a = ctx.args(args, 'INVALIDATE_CACHE');
  const o = ctx.get(a.ioasid);
  ctx.groups(o);
  onlyKeys(a, FIELDS, 'INVALIDATE_CACHE');
  let req: InvalidateRequest;
  const pasid = a.pasid === undefined ? undefined : pasidArg(a.pasid, 'pasid');
  if (optionalBool(a.all, 'all') === true) {
    if ('iova' in a || 'size' in a) fail('EINVAL', 'an invalidation of all takes no iova or size');
    req = { all: true, pasid };
  } else {
    const iova = u64(a.iova, 'iova');
    const size = u64(a.size, 'size');
    if (size === 0n) fail('EINVAL', 'size must not be zero (use all: true)');
    if (iova + size > U64_END) fail('EOVERFLOW', `iova ${hex(iova)} + size ${hex(size)} wraps past 2^64`);
    req = { iova, size, pasid };
  }
  o.domain.invalidate(req);
}
