import { createMachine, type Machine, type VendorRegistration } from '@ioasid/core';
import { defaultMachineOptions } from '../vendors.js';
import type { ScenarioSpec } from './schema.js';
import { optInt, toBig } from './values.js';

/** The vendor's default machine, with what the scenario's `machine:` section changes. */
export function machineOptions(reg: VendorRegistration, spec: ScenarioSpec): Record<string, unknown> & { vendor: string } {
  const m = spec.machine ?? {};
  const opts: Record<string, unknown> = { ...defaultMachineOptions(reg) };
  if (m.devices) {
    opts.devices = m.devices.map((d) => {
      const rid = optInt(d.rid, 'rid');
      const group = optInt(d.group, 'group');
      return { ...d, ...(rid !== undefined ? { rid } : {}), ...(group !== undefined ? { group } : {}) };
    });
  }
  if (m.hostMemory !== undefined) opts.hostMemory = toBig(m.hostMemory, 'hostMemory');
  if (m.guestMemory !== undefined) opts.guestMemory = toBig(m.guestMemory, 'guestMemory');
  if (m.guestHugePages !== undefined) opts.guestHugePages = m.guestHugePages;
  Object.assign(opts, m.options ?? {}, m.vendorOptions?.[reg.vendor] ?? {});
  return { ...opts, vendor: reg.vendor };
}

export function scenarioMachine(reg: VendorRegistration, spec: ScenarioSpec): Machine {
  return createMachine(machineOptions(reg, spec));
}
