import type { IoasidFd, Machine } from '@ioasid/core';
import { ConformanceFailure, fmtValue } from '../kit.js';
import { attempt, type Attempt } from './api.js';

const serials = new WeakMap<IoasidFd, number>();
const nextSerial = new WeakMap<Machine, number>();

/** A stable name for an fd of a machine (fd0, fd1, … in the order the kit first saw them). */
export function fdName(m: Machine, fd: IoasidFd): string {
  let n = serials.get(fd);
  if (n === undefined) {
    n = nextSerial.get(m) ?? 0;
    nextSerial.set(m, n + 1);
    serials.set(fd, n);
  }
  return `fd${n}`;
}

/**
 * Everything a refused call must leave as it was, machine-wide: `describe()` of every open fd,
 * which device is bound where, host frames in use and host PASIDs in use.
 */
export function machineState(m: Machine): Map<string, string> {
  const out = new Map<string, string>();
  out.set('framesInUse', String(m.hostMemory.framesInUse));
  out.set('host PASIDs in use', String(m.pasids.inUse));
  for (const fd of m.fds) {
    const name = fdName(m, fd);
    const d = fd.describe();
    out.set(`${name} devices`, fmtValue(d.devices));
    out.set(`${name} lockedPages`, String(d.lockedPages));
    out.set(`${name} registrations`, fmtValue(d.registrations));
    out.set(`${name} IOASIDs`, fmtValue(d.ioasids.map((o) => o.id)));
    for (const o of d.ioasids) {
      out.set(`${name} IOASID ${o.id}`, fmtValue([o.protocol, o.nesting, o.parent ?? null, o.children, o.bound ?? null]));
      out.set(`${name} IOASID ${o.id} maps`, fmtValue(o.maps));
      out.set(`${name} IOASID ${o.id} attachments`, fmtValue(o.attachments));
    }
  }
  for (const d of m.deviceList) out.set(`binding of ${d.name}`, d.fd ? `${fdName(m, d.fd)} as '${d.label}'` : 'unbound');
  return out;
}

/** Fails naming the first thing a refused call changed. */
export function checkUnchanged(before: Map<string, string>, after: Map<string, string>, what: string, errno: string): void {
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(k);
    const b = after.get(k);
    if (a !== b) throw new ConformanceFailure(`atomicity: refused ${what} (${errno}) changed ${k}: ${a ?? '(absent)'} → ${b ?? '(absent)'}`);
  }
}

/** A state-changing call: any refusal (IoasidError) must leave the whole machine as it was. */
export function command<T>(m: Machine, what: string | (() => string), fn: () => T): Attempt<T> {
  const before = machineState(m);
  const r = attempt(what, fn);
  if (!r.ok && r.errno) checkUnchanged(before, machineState(m), typeof what === 'string' ? what : what(), r.errno);
  return r;
}
