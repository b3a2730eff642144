import { fail } from './base/errors.js';
import { hex } from './base/args.js';
import { DEVICE_OPTIONS } from './base/machine-options.js';
import type { DeviceDesc } from './driver/driver.js';
import { argObject, show, type Args } from './uapi/validate.js';
import { unknownOption } from './machine-options.js';

/**
 * `createMachine({ devices })` read into the descriptions drivers probe: every refusal names the
 * element and field (`options.devices[2].rid`).
 */
export function readDevices(value: unknown): DeviceDesc[] {
  if (!Array.isArray(value)) fail('EINVAL', `options.devices must be an array of devices (got ${show(value)})`);
  const out: DeviceDesc[] = [];
  const byName = new Map<string, DeviceDesc>();
  const rids = new Set<number>();
  let slot = 1;
  (value as unknown[]).forEach((item, i) => {
    const at = `options.devices[${i}]`;
    const o = argObject(item, at);
    for (const key of Object.keys(o)) if (!(DEVICE_OPTIONS as readonly string[]).includes(key)) unknownOption(key, DEVICE_OPTIONS, at);
    const name = o.name;
    if (typeof name !== 'string' || name === '') fail('EINVAL', `${at}.name must be a non-empty string: every device needs a name (got ${show(name)})`);
    if (byName.has(name)) fail('EEXIST', `${at}.name: device name '${name}' is used twice`);
    const kind = o.kind ?? 'pdev';
    if (kind !== 'pdev' && kind !== 'mdev') fail('EINVAL', `${at}.kind must be 'pdev' or 'mdev' (device ${name}; got ${show(kind)})`);
    const flags = { ats: flag(o, 'ats', at), pri: flag(o, 'pri', at), enqcmd: flag(o, 'enqcmd', at) };
    let rid: number;
    if (kind === 'mdev') {
      if (o.rid !== undefined) fail('EINVAL', `${at}.rid: mdev ${name} rides on its parent's RID and takes none of its own`);
      const parent = typeof o.parent === 'string' ? byName.get(o.parent) : undefined;
      if (!parent || parent.kind !== 'pdev') fail('EINVAL', `${at}.parent: mdev ${name}: parent must name a pdev listed before it (got ${show(o.parent)})`);
      rid = parent.rid;
    } else {
      if (o.parent !== undefined) fail('EINVAL', `${at}.parent: only an mdev has a parent (device ${name} is a pdev)`);
      rid = o.rid === undefined ? slot++ * 8 : (o.rid as number);
      if (typeof rid !== 'number' || !Number.isInteger(rid) || rid < 0 || rid > 0xffff) {
        fail('EINVAL', `${at}.rid: device ${name}: rid must be a 16-bit requester ID (got ${typeof rid === 'number' ? hex(rid) : show(rid)})`);
      }
      if (rids.has(rid)) fail('EEXIST', `${at}.rid: device ${name}: rid ${hex(rid)} is already used`);
      rids.add(rid);
    }
    const group = o.group ?? (kind === 'pdev' ? rid : 0x10000 + out.length);
    if (typeof group !== 'number' || !Number.isInteger(group) || group < 0) fail('EINVAL', `${at}.group must be a non-negative integer (got ${show(group)})`);
    const d: DeviceDesc = { name, rid, kind, parent: kind === 'mdev' ? (o.parent as string) : undefined, group, ...flags };
    byName.set(name, d);
    out.push(d);
  });
  return out;
}

function flag(o: Args, key: 'ats' | 'pri' | 'enqcmd', at: string): boolean {
  const v = o[key] ?? false;
  if (typeof v !== 'boolean') fail('EINVAL', `${at}.${key} must be a boolean (got ${show(v)})`);
  return v;
}
