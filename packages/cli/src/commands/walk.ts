import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { toJson } from '../output/json.js';
import { resolveIoasid, runToStep } from '../scenario/at-step.js';
import { resolveScenario } from '../scenario/builtins.js';
import { lookupLines, traceLines } from '../walk/text.js';

interface WalkOptions {
  ioasid: string;
  iova: string;
  pasid?: string;
  device?: string;
  write?: boolean;
  caches?: boolean;
  vendor?: string;
  at?: string;
  json?: boolean;
}

function numberArg(name: string, v: string, max: bigint): bigint {
  if (!/^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(v)) throw new UsageError(`--${name}: expected a number like 0x200000 (got '${v}')`);
  const n = BigInt(v.replace(/_/g, ''));
  if (n > max) throw new UsageError(`--${name}: ${v} is above ${`0x${max.toString(16)}`}`);
  return n;
}

export function walkCommand(ctx: Context): Command {
  return new Command('walk')
    .description("run a scenario (up to a step), then show the IOMMU hardware's own walk of one request: every structure it reads, in order")
    .argument('<scenario>', 'a scenario .yaml file or the name of a built-in scenario')
    .requiredOption('--ioasid <n>', 'the IOASID the request reaches: its number, or the name the scenario gave it (as: gpa)')
    .requiredOption('--iova <addr>', 'the input address of the request')
    .option('--pasid <p>', 'the PASID context to walk in a PASID-table IOASID')
    .option('--device <name>', 'the attached device that sends the request (default: the first one the IOASID routes)')
    .option('--write', 'walk a write (default: a read)')
    .option('--caches', 'let the walk probe the translation caches first, as the DMA does (shows a stale entry)')
    .option('--vendor <name>', 'the vendor to run on (default: the first one that runs the scenario through)')
    .option('--at <step>', 'walk in the state right after this step: its number (from 1), its as: name or its title')
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
  ioasid walk 5.7-bind-pasid-table --ioasid pasids --iova 0x200000 --pasid 1 --json`,
    )
    .action(async (arg: string, opts: WalkOptions) => {
      const io = ctx.io;
      const iova = numberArg('iova', opts.iova, (1n << 64n) - 1n);
      const pasid = opts.pasid === undefined ? undefined : Number(numberArg('pasid', opts.pasid, (1n << 20n) - 1n));
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      const at = runToStep(scenario, vendors, opts.vendor, opts.at);
      const ioasid = resolveIoasid(at, scenario, opts.ioasid);
      const view = at.run.state.fd.lookup(ioasid, iova, {
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
