import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Context } from '../context.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { writeImage } from '../image/files.js';
import { runToStep } from '../scenario/at-step.js';
import { resolveScenario } from '../scenario/builtins.js';

export function snapshotCommand(ctx: Context): Command {
  return new Command('snapshot')
    .description("run a scenario (up to a step), then write the machine's host memory as a raw image and the IOMMU's registers as JSON, for `ioasid walk --image`")
    .argument('<scenario>', 'a scenario .yaml file or the name of a built-in scenario')
    .requiredOption('--image <file>', 'the memory image to write (byte PA at offset PA; unwritten memory is left as holes)')
    .requiredOption('--regs <file>', "the registers file to write: { vendor, registers: { NAME: '0x…' } }")
    .option('--vendor <name>', 'the vendor to run on (default: the first one that runs the scenario through)')
    .option('--at <step>', 'the state right after this step: its number (from 1), its as: name or its title')
    .option('--json', 'print what was written as JSON')
    .addHelpText(
      'after',
      `
Examples:
  ioasid snapshot 5.4-hardware-nesting --vendor arm-smmuv3 --image mem.bin --regs regs.json
  ioasid walk --vendor arm-smmuv3 --image mem.bin --regs regs.json --rid 0x8 --iova 0x100000`,
    )
    .action(async (arg: string, opts: { image: string; regs: string; vendor?: string; at?: string; json?: boolean }) => {
      const scenario = resolveScenario(arg);
      const { vendors } = await ctx.vendors();
      const at = runToStep(scenario, vendors, opts.vendor, opts.at);
      const m = at.run.state.machine;
      let img: { bytes: number; chunks: number };
      try {
        img = writeImage(m.hostMemory, opts.image);
        const registers = Object.fromEntries(Object.entries(m.iommu.registers()).map(([k, v]) => [k, `0x${v.toString(16)}`]));
        writeFileSync(opts.regs, JSON.stringify({ vendor: at.reg.vendor, scenario: scenario.name, step: at.step, hostMemory: `0x${m.hostMemory.size.toString(16)}`, registers }, null, 2) + '\n');
      } catch (e) {
        throw new UsageError(`cannot write the snapshot: ${(e as Error).message}`);
      }
      const devices = m.deviceList.map((d) => `${d.name} RID 0x${d.rid.toString(16)}`).join(', ');
      if (opts.json) {
        const devs = m.deviceList.map((d) => ({ name: d.name, rid: d.rid }));
        ctx.io.out(JSON.stringify({ image: opts.image, imageBytes: img.bytes, chunks: img.chunks, regs: opts.regs, vendor: at.reg.vendor, scenario: scenario.name, step: at.step, devices: devs }) + '\n');
        ctx.exitCode = EXIT_OK;
        return;
      }
      ctx.io.out(
        `wrote ${opts.image} (${(img.bytes / 2 ** 20).toFixed(1)} MiB, ${img.chunks} chunks of 2 MiB written, the rest holes) and ${opts.regs}\n` +
          `from ${at.reg.vendor} after step ${at.step} of ${scenario.name}; devices: ${devices}\n`,
      );
      ctx.exitCode = EXIT_OK;
    });
}
