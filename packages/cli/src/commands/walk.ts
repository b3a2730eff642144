import { Command } from 'commander';
import { WalkTracer, findVendor, type DmaRequest, type LookupView, type WalkTrace } from '@ioasid/core';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { readImage, readRegisters } from '../image/files.js';
import { toJson } from '../output/json.js';
import { resolveIoasid, runToStep } from '../scenario/at-step.js';
import { resolveScenario } from '../scenario/builtins.js';
import { lookupLines, traceLines } from '../walk/text.js';

interface WalkOptions {
  ioasid?: string;
  iova?: string;
  pasid?: string;
  device?: string;
  write?: boolean;
  caches?: boolean;
  vendor?: string;
  at?: string;
  json?: boolean;
  image?: string;
  imageBase?: string;
  regs?: string;
  rid?: string;
}

function numberArg(name: string, v: string, max: bigint): bigint {
  if (!/^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(v)) throw new UsageError(`--${name}: expected a number like 0x200000 (got '${v}')`);
  const n = BigInt(v.replace(/_/g, ''));
  if (n > max) throw new UsageError(`--${name}: ${v} is above 0x${max.toString(16)}`);
  return n;
}

function need(opts: WalkOptions, name: keyof WalkOptions, flag: string, why: string): string {
  const v = opts[name];
  if (typeof v !== 'string') throw new UsageError(`${flag} is required ${why}`);
  return v;
}

/** A walk over a memory image and a registers file, the vendor's hardware model alone. */
async function imageWalk(ctx: Context, opts: WalkOptions, iova: bigint, pasid: number | undefined): Promise<{ head: Record<string, unknown>; trace: WalkTrace }> {
  for (const f of ['ioasid', 'device', 'at', 'caches'] as const) if (opts[f] !== undefined) throw new UsageError(`--${f} applies to a scenario walk, not to --image`);
  const regsFile = need(opts, 'regs', '--regs', 'with --image (the unit\'s registers as JSON, e.g. from ioasid snapshot)');
  const regs = readRegisters(regsFile);
  const vendor = opts.vendor ?? regs.vendor;
  if (!vendor) throw new UsageError('--vendor is required with --image (the registers file names none)');
  const rid = Number(numberArg('rid', need(opts, 'rid', '--rid', 'with --image (the requester ID, e.g. 0x8)'), 0xffffn));
  const base = opts.imageBase === undefined ? 0n : numberArg('image-base', opts.imageBase, (1n << 46n) - 1n);
  await ctx.vendors();
  const reg = (() => {
    try {
      return findVendor(vendor);
    } catch (e) {
      throw new UsageError(`--vendor ${vendor}: ${(e as Error).message}`);
    }
  })();
  if (!reg.hardware) throw new UsageError(`--vendor ${vendor}: the plugin cannot build its hardware model over a memory image`);
  const mem = readImage(opts.image!, base, regs.hostMemory);
  const unit = reg.hardware(mem, regs.registers);
  if (typeof unit.walk !== 'function') throw new UsageError(`--vendor ${vendor}: its hardware model does not trace walks`);
  const tracer = new WalkTracer();
  const req: DmaRequest = { rid, pasid: pasid ?? -1, iovaFrame: Number(iova >> 12n), offset: Number(iova & 0xfffn), write: opts.write === true, privileged: false };
  const trace = tracer.finish(unit.walk(req, tracer, { caches: false }), Number(iova & 0xfffn));
  return { head: { vendor, image: opts.image, rid, iova, ...(pasid !== undefined ? { pasid } : {}), write: opts.write === true }, trace };
}

export function walkCommand(ctx: Context): Command {
  return new Command('walk')
    .description("show the IOMMU hardware's own walk of one request, every structure it reads in order: in a scenario's machine, or over a memory image")
    .argument('[scenario]', 'a scenario .yaml file or the name of a built-in scenario (not with --image)')
    .option('--ioasid <n>', 'the IOASID the request reaches: its number, or the name the scenario gave it (as: gpa)')
    .option('--iova <addr>', 'the input address of the request')
    .option('--pasid <p>', 'the PASID the request carries (a PASID-table IOASID: the context to walk)')
    .option('--device <name>', 'the attached device that sends the request (default: the first one the IOASID routes)')
    .option('--write', 'walk a write (default: a read)')
    .option('--caches', 'let the walk probe the translation caches first, as the DMA does (shows a stale entry)')
    .option('--vendor <name>', 'the vendor (default: the first one that runs the scenario through; with --image, the one the registers file names)')
    .option('--at <step>', 'walk in the state right after this step: its number (from 1), its as: name or its title')
    .option('--image <file>', "walk over this raw host-memory image instead (pages the file does not hold read as zeros)")
    .option('--image-base <pa>', 'the host-physical address of the image\'s first byte (default 0)')
    .option('--regs <file>', "with --image: the unit's registers, { NAME: '0x…' } or ioasid snapshot's file")
    .option('--rid <rid>', 'with --image: the requester ID (StreamID) of the request')
    .option('--json', 'print JSON (bigints as hex strings)')
    .addHelpText(
      'after',
      `
The walk is the one the DMA takes, recorded read by read, with no side effect: no cache is
filled, no fault recorded. Each read shows the structure as the specification names it, its
host-physical address, raw words, decoded fields and the field that decided the next step; a
structure in guest memory shows the stage-2 walk that located it.

Examples:
  ioasid walk 5.1-simple-dma --ioasid gpa --iova 0x201000 --vendor intel-vtd
  ioasid walk 5.4-hardware-nesting --ioasid giova --iova 0x100000 --at 11 --vendor arm-smmuv3
  ioasid walk 5.7-bind-pasid-table --ioasid pasids --iova 0x200000 --pasid 1 --json
  ioasid snapshot 5.1-simple-dma --vendor intel-vtd --image mem.bin --regs regs.json
  ioasid walk --image mem.bin --regs regs.json --rid 0x8 --iova 0x201000`,
    )
    .action(async (arg: string | undefined, opts: WalkOptions) => {
      const io = ctx.io;
      const iova = numberArg('iova', need(opts, 'iova', '--iova', '(the input address to walk)'), (1n << 64n) - 1n);
      const pasid = opts.pasid === undefined ? undefined : Number(numberArg('pasid', opts.pasid, (1n << 20n) - 1n));
      if (opts.image !== undefined) {
        if (arg !== undefined) throw new UsageError('give a scenario or --image, not both');
        const { head, trace } = await imageWalk(ctx, opts, iova, pasid);
        if (opts.json) io.out(toJson({ ...head, trace }) + '\n');
        else io.out([`${opts.write ? 'write' : 'read'} of 0x${iova.toString(16)}${pasid !== undefined ? ` PASID ${pasid}` : ''} from RID 0x${(head.rid as number).toString(16)} over ${opts.image} on ${head.vendor as string}`, ...traceLines(trace, io.paint)].join('\n') + '\n');
        ctx.exitCode = EXIT_OK;
        return;
      }
      for (const f of ['regs', 'rid', 'imageBase'] as const) if (opts[f] !== undefined) throw new UsageError(`--${f === 'imageBase' ? 'image-base' : f} applies only with --image`);
      if (arg === undefined) throw new UsageError('missing scenario: give a file or a built-in name, or --image with --regs');
      const scenario = resolveScenario(arg);
      const ioasidArg = need(opts, 'ioasid', '--ioasid', 'with a scenario (the IOASID the request reaches)');
      const { vendors } = await ctx.vendors();
      const at = runToStep(scenario, vendors, opts.vendor, opts.at);
      const ioasid = resolveIoasid(at, scenario, ioasidArg);
      const view: LookupView = at.run.state.fd.lookup(ioasid, iova, {
        ...(pasid !== undefined ? { pasid } : {}),
        ...(opts.device !== undefined ? { device: opts.device } : {}),
        write: opts.write === true,
        caches: opts.caches === true,
      });
      const head = { scenario: scenario.name, vendor: at.reg.vendor, ioasid, iova, ...(pasid !== undefined ? { pasid } : {}), write: opts.write === true, ...(opts.at !== undefined ? { step: at.step } : {}) };
      if (opts.json) {
        io.out(toJson({ ...head, trace: view.trace ?? null, lookup: view }) + '\n');
      } else {
        const when = opts.at !== undefined ? `after step ${at.step} of` : 'after';
        const what = `${opts.write ? 'write' : 'read'} of 0x${iova.toString(16)}${pasid !== undefined ? ` PASID ${pasid}` : ''}`;
        const lines = [`${what} in IOASID ${ioasid}, ${when} ${scenario.name} on ${at.reg.vendor}`];
        if (view.trace) lines.push(...traceLines(view.trace, io.paint));
        else lines.push(`  (no hardware trace: ${at.reg.vendor}'s unit does not trace, or no device reaches IOASID ${ioasid}; LOOKUP decoded from memory:)`, ...lookupLines(view, io.paint));
        io.out(lines.join('\n') + '\n');
      }
      ctx.exitCode = EXIT_OK;
    });
}
