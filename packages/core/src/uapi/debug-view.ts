import { u64 } from '../base/args.js';
import type { DomainDump, LookupView } from '../driver/driver.js';
import type { FdContext } from './fd-context.js';
import { optionsArg, pasidArg } from './validate.js';

/** DUMP_PGTABLE / LOOKUP: the I/O page table as the driver decodes it from memory (DESIGN §8). */

export function dumpPgtable(ctx: FdContext, ioasid: number): DomainDump {
  return ctx.get(ioasid).domain.dump();
}

export function lookup(ctx: FdContext, ioasid: number, iova: bigint, options: { pasid?: number } = {}): LookupView {
  const o = ctx.get(ioasid);
  const at = u64(iova, 'iova');
  const opts = optionsArg(options, 'options', ['pasid']);
  return o.domain.lookup(at, opts.pasid === undefined ? undefined : pasidArg(opts.pasid, 'options.pasid'));
}
