import type { Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import type { Attempt } from '../api.js';
import { command, fdName } from '../state.js';
import { hexn } from '../show.js';
import type { Tally } from '../tally.js';
import { VPASIDS, type TopoAction } from './actions.js';
import type { Buffers } from './buffers.js';
import type { MFd, MIoasid, Rule, TopoModel } from './model.js';

/** At most this many fds open, and IOASIDs per fd. */
const MAX_FDS = 3;
const MAX_IOASIDS = 4;

export interface StepEnv {
  m: Machine;
  model: TopoModel;
  buffers: Buffers;
  tally: Tally;
  slots: number;
  pages: number;
  /** The rules case: a call the topology rules forbid must be refused with their errno. */
  strict: boolean;
  iova(s: number): bigint;
  nextSerial(): number;
}

const pick = <T>(list: readonly T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);

/**
 * Holds a call to a topology rule: in the rules case, a forbidden call must be refused with the
 * rule's errno; in the isolation case the model follows whatever the implementation did.
 */
function judge(e: StepEnv, rule: Rule | null, r: Attempt<unknown>, at: string): void {
  if (!rule) return;
  if (r.ok) {
    e.tally.add('topology rules the implementation did not enforce');
    if (e.strict) throw new ConformanceFailure(`${rule.text}: it must be refused with ${rule.errnos.join(' or ')}, but it succeeded — ${at}`);
    return;
  }
  if (e.strict && r.errno && !rule.errnos.includes(r.errno)) {
    throw new ConformanceFailure(`${rule.text}: it must be refused with ${rule.errnos.join(' or ')}, but got ${r.error.message} — ${at}`);
  }
}

function openFd(e: StepEnv): void {
  if (e.model.fds.length >= MAX_FDS) return;
  const r = command(e.m, 'open the IOASID fd', () => e.m.openIoasidFd());
  if (!r.ok) return;
  const serial = e.nextSerial();
  const name = fdName(e.m, r.value);
  const buf = e.buffers.create(serial, name);
  e.model.fds.push({ name, serial, fd: r.value, buf, ioasids: [] });
}

/** Runs one step; returns whether the machine's state may have changed (then the caller sweeps). */
export function step(e: StepEnv, a: TopoAction, at: string): boolean {
  const { model } = e;
  const devOf = (d: number) => model.devices[d % model.devices.length].name;
  const fdOf = (f: number) => pick(model.fds, f);
  const ioOf = (f: MFd | undefined, o: number) => (f ? pick(f.ioasids, o) : undefined);
  switch (a.t) {
    case 'open':
      openFd(e);
      return false;
    case 'close': {
      const f = fdOf(a.f);
      if (!f) return false;
      const r = command(e.m, `close ${f.name}`, () => f.fd.close());
      if (r.ok) model.closeFd(f);
      return r.ok;
    }
    case 'bind': {
      const f = fdOf(a.f);
      if (!f) return false;
      const first = devOf(a.d);
      let changed = false;
      const group = a.mode === 'one' ? [first] : [first, ...model.siblings(first)];
      const family = a.mode === 'family' ? group.flatMap((d) => [d, ...model.mdevsOf(d)]) : group;
      for (const dev of family) {
        const rule = model.ruleForBind(dev, f);
        const r = command(e.m, `BIND_IOASID_FD(${dev} → ${f.name})`, () => e.m.device(dev).bindIoasidFd(f.fd, { label: dev }));
        judge(e, rule, r, at);
        if (r.ok) model.bound.set(dev, f);
        changed ||= r.ok;
      }
      return changed;
    }
    case 'unbind': {
      const dev = devOf(a.d);
      const r = command(e.m, `unbind ${dev}`, () => e.m.device(dev).unbindIoasidFd());
      if (r.ok) {
        model.bound.delete(dev);
        model.dropAtts((x) => x.dev === dev);
      }
      return r.ok;
    }
    case 'alloc': {
      const f = fdOf(a.f);
      if (!f || f.ioasids.length >= MAX_IOASIDS) return false;
      const r = command(e.m, `ALLOC on ${f.name}`, () => f.fd.alloc({ protocol: 'map' }));
      if (r.ok) f.ioasids.push({ id: r.value, fd: f, maps: [] });
      return false;
    }
    case 'nest': {
      const f = fdOf(a.f);
      const p = ioOf(f, a.o);
      if (!f || !p || f.ioasids.length >= MAX_IOASIDS) return false;
      const r = command(e.m, `CREATE_NESTING(parent ${p.id}) on ${f.name}`, () => f.fd.createNesting({ parent: p.id, protocol: 'map' }));
      if (r.ok) f.ioasids.push({ id: r.value, fd: f, parent: p, maps: [] });
      return false;
    }
    case 'free': {
      const f = fdOf(a.f);
      const io = ioOf(f, a.o);
      if (!f || !io) return false;
      const r = command(e.m, `FREE ${model.ioName(io)}`, () => f.fd.free(io.id));
      if (r.ok) model.dropIoasid(io);
      return r.ok;
    }
    case 'attach':
    case 'detach': {
      const first = devOf(a.d);
      const f = model.bound.get(first) ?? fdOf(a.o);
      const io = ioOf(f, a.o);
      if (!f || !io) return false;
      const userPasid = a.p === null ? undefined : VPASIDS[a.p];
      if (a.t === 'detach') return detach(e, first, io, userPasid);
      const members = a.mode !== 'one' && userPasid === undefined ? [first, ...model.siblings(first).filter((s) => model.bound.get(s) === f)] : [first];
      let changed = false;
      members.forEach((dev, k) => {
        const target = a.mode === 'spread' ? (ioOf(f, a.o + k) ?? io) : io;
        changed = attach(e, dev, target, userPasid, at) || changed;
      });
      return changed;
    }
    case 'map': {
      const f = fdOf(a.f);
      const io = ioOf(f, a.o);
      if (!f || !io) return false;
      const n = Math.min(a.n, e.slots - a.s);
      const limit = io.parent ? e.slots : e.pages;
      const target = a.target % Math.max(1, limit - n + 1);
      const vaddr = io.parent ? e.iova(target) : f.buf + BigInt(target) * e.buffers.g;
      const args = { ioasid: io.id, iova: e.iova(a.s), vaddr, size: BigInt(n) * e.buffers.g };
      const r = command(e.m, `MAP_DMA(${model.ioName(io)}, slot ${a.s}+${n} → ${io.parent ? 'parent slot' : 'page'} ${target})`, () => f.fd.mapDma(args));
      if (r.ok) io.maps.push({ s: a.s, n, target });
      if (r.ok) e.tally.add('maps');
      return r.ok;
    }
    case 'unmap':
    case 'unmapAll': {
      const f = fdOf(a.f);
      const io = ioOf(f, a.o);
      if (!f || !io) return false;
      if (a.t === 'unmapAll') {
        const r = command(e.m, `UNMAP_DMA(${model.ioName(io)}, all)`, () => f.fd.unmapDma({ ioasid: io.id, all: true }));
        if (r.ok) io.maps.length = 0;
        return r.ok;
      }
      const n = Math.min(a.n, e.slots - a.s);
      const iova = e.iova(a.s);
      const r = command(e.m, `UNMAP_DMA(${model.ioName(io)}, ${hexn(iova)}, slots ${a.s}+${n})`, () => f.fd.unmapDma({ ioasid: io.id, iova, size: BigInt(n) * e.buffers.g }));
      // Whole maps inside the range are gone; one it cut (a type1v2 violation) may or may not be.
      if (r.ok) io.maps.splice(0, io.maps.length, ...io.maps.filter((x) => !(x.s >= a.s && x.s + x.n <= a.s + n)));
      return r.ok;
    }
    case 'sweep':
      return true;
  }
}

function attach(e: StepEnv, dev: string, io: MIoasid, userPasid: number | undefined, at: string): boolean {
  const { model } = e;
  const d = e.m.device(dev);
  const rule = model.ruleForAttach(dev, io, userPasid);
  const r = command(e.m, `ATTACH(${dev} → ${model.ioName(io)}${userPasid === undefined ? '' : `, vPASID ${userPasid}`})`, () => d.attachIoasid(io.id, userPasid === undefined ? {} : { userPasid }));
  judge(e, rule, r, at);
  if (!r.ok) return false;
  e.tally.add('attaches');
  // The API attaches to an IOASID of the device's own fd: that is the one with this number there.
  const owner = d.fd ? model.fds.find((x) => x.fd === d.fd) : undefined;
  const target = owner && owner !== io.fd ? owner.ioasids.find((o) => o.id === io.id) : io;
  if (target) recordAttach(e, dev, target, userPasid);
  return true;
}

function detach(e: StepEnv, dev: string, io: MIoasid, userPasid: number | undefined): boolean {
  const r = command(e.m, `DETACH(${dev} → ${e.model.ioName(io)}${userPasid === undefined ? '' : `, vPASID ${userPasid}`})`, () =>
    e.m.device(dev).detachIoasid(io.id, userPasid === undefined ? {} : { userPasid }),
  );
  if (r.ok) e.model.dropAtts((x) => x.dev === dev && x.io === io && x.userPasid === userPasid);
  return r.ok;
}

function recordAttach(e: StepEnv, dev: string, io: MIoasid, userPasid: number | undefined): void {
  const desc = io.fd.fd.describe().ioasids.find((o) => o.id === io.id);
  const att = desc?.attachments.find((x) => x.device === dev && x.userPasid === userPasid);
  e.model.atts.push({ dev, io, userPasid, wirePasid: att?.wirePasid ?? userPasid });
}
