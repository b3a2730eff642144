import {
  dirtyBits,
  IOASID_ALLOC,
  IOASID_BIND_PASID_TABLE,
  IOASID_BIND_PGTABLE,
  IOASID_CHECK_EXTENSION,
  IOASID_CREATE_NESTING,
  IOASID_FREE,
  IOASID_GET_INFO,
  IOASID_GET_DIRTY_BITMAP,
  IOASID_INVALIDATE_CACHE,
  IOASID_SET_DIRTY_TRACKING,
  IOASID_LOOKUP,
  IOASID_MAP_DMA,
  IOASID_REGISTER_MEMORY,
  IOASID_UNMAP_DMA,
  IOASID_UNREGISTER_MEMORY,
  type IoasidInfo,
  type LookupView,
  type PgtableFormat,
  type Protocol,
} from '@ioasid/core';
import { walkSummary } from '../../walk/summary.js';
import { CheckFailed, optInt, toBig, toFormat, toInt, Unsupported } from '../values.js';
import { sameValue } from './checks.js';
import { hex, infoSummary, size, span } from './describe.js';
import type { Args, Op, RunState } from './types.js';

const ioasidOf = (a: Args, key = 'ioasid') => toInt(a[key], key);

function infoOf(s: RunState, ioasid: number): IoasidInfo {
  return s.fd.ioctl(IOASID_GET_INFO, ioasid) as IoasidInfo;
}

/** Why a protocol cannot be used on `ioasid` (per its GET_INFO), or undefined. */
function lacksProtocol(s: RunState, ioasid: number, protocol: Protocol): string | undefined {
  const info = infoOf(s, ioasid);
  if (info.protocols.includes(protocol)) return undefined;
  return `GET_INFO of IOASID ${ioasid} lists protocols ${info.protocols.join(', ') || 'none'}: no '${protocol}'`;
}

/** The table a bind step names: `table: $ref` (from guest-pgtable / guest-pasid-table) or addr + format. */
function boundTable(a: Args, addrKey: 'root' | 'addr'): { addr: bigint; format: PgtableFormat } {
  if (a.table !== undefined) {
    const t = a.table as Record<string, unknown>;
    return { addr: toBig(t[addrKey], `table.${addrKey}`), format: t.format as PgtableFormat };
  }
  return { addr: toBig(a.addr, 'addr'), format: toFormat(a.format, 'format') };
}

export const uapiOps: Record<string, Op> = {
  bind: {
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const label = (a.label as string | undefined) ?? dev.name;
      dev.bindIoasidFd(s.fd, { label });
      return { detail: `${dev.name} (${dev.kind}, RID ${hex(dev.rid)}) bound as '${label}'` };
    },
  },
  unbind: {
    run(s, a) {
      s.machine.device(String(a.device)).unbindIoasidFd();
      return { detail: `${String(a.device)} unbound` };
    },
  },
  'check-extension': {
    run(s, a) {
      const r = s.fd.ioctl(IOASID_CHECK_EXTENSION, a.extension) as number;
      if (a.expect !== undefined && Number(a.expect) !== r) throw new CheckFailed(`CHECK_EXTENSION(${String(a.extension)}) = ${r}, expected ${String(a.expect)}`);
      return { detail: `${String(a.extension)} = ${r}`, value: r };
    },
  },
  register: {
    run(s, a) {
      const vaddr = toBig(a.vaddr, 'vaddr');
      const sz = toBig(a.size, 'size');
      s.fd.ioctl(IOASID_REGISTER_MEMORY, { vaddr, size: sz });
      return { detail: `vaddr ${span(vaddr, sz)} registered` };
    },
  },
  unregister: {
    run(s, a) {
      const vaddr = toBig(a.vaddr, 'vaddr');
      const sz = toBig(a.size, 'size');
      s.fd.ioctl(IOASID_UNREGISTER_MEMORY, { vaddr, size: sz });
      return { detail: `vaddr ${span(vaddr, sz)} unregistered` };
    },
  },
  alloc: {
    run(s, a) {
      const args: Record<string, unknown> = { ...((a.options as Args | undefined) ?? {}), protocol: 'map' };
      const w = a.window as Args | undefined;
      if (w) {
        args.window = { pageSize: toBig(w.pageSize, 'window.pageSize'), size: toBig(w.size, 'window.size'), ...(w.levels !== undefined ? { levels: toInt(w.levels, 'window.levels') } : {}) };
      }
      const id = s.fd.ioctl(IOASID_ALLOC, args) as number;
      return { detail: `IOASID ${id} (map${w ? `, window ${size(toBig(w.size, 'size'))} of ${size(toBig(w.pageSize, 'pageSize'))} pages` : ''})`, value: id };
    },
  },
  nest: {
    requires(s, a) {
      const protocol = a.protocol as Protocol;
      return protocol === 'map' ? undefined : lacksProtocol(s, ioasidOf(a, 'parent'), protocol);
    },
    run(s, a) {
      const parent = ioasidOf(a, 'parent');
      const id = s.fd.ioctl(IOASID_CREATE_NESTING, { ...((a.options as Args | undefined) ?? {}), parent, protocol: a.protocol }) as number;
      return { detail: `IOASID ${id} (${String(a.protocol)}) nested in ${parent}`, value: id };
    },
  },
  attach: {
    requires(s, a) {
      if (a.userPasid === undefined) return undefined;
      const dev = s.machine.device(String(a.device));
      return dev.getInfo().pasidBits === 0 ? `device ${dev.name} reports no PASID support (GET_INFO pasidBits 0)` : undefined;
    },
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const ioasid = ioasidOf(a);
      const userPasid = optInt(a.userPasid, 'userPasid');
      dev.attachIoasid(ioasid, userPasid === undefined ? {} : { userPasid });
      return { detail: `${dev.name} → IOASID ${ioasid}${userPasid !== undefined ? ` (vPASID ${userPasid})` : ''}` };
    },
  },
  detach: {
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const ioasid = ioasidOf(a);
      const userPasid = optInt(a.userPasid, 'userPasid');
      dev.detachIoasid(ioasid, userPasid === undefined ? {} : { userPasid });
      return { detail: `${dev.name} detached from IOASID ${ioasid}` };
    },
  },
  info: {
    run(s, a) {
      const info = a.device !== undefined ? s.machine.device(String(a.device)).getInfo() : infoOf(s, ioasidOf(a));
      const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x));
      for (const [k, want] of Object.entries((a.requires as Args | undefined) ?? {})) {
        const got = (info as unknown as Args)[k];
        if (!sameValue(got, want)) throw new Unsupported(`GET_INFO ${k} is ${show(got)}; the scenario needs ${show(want)}`);
      }
      for (const [k, want] of Object.entries((a.matches as Args | undefined) ?? {})) {
        const got = (info as unknown as Args)[k];
        if (!sameValue(got, want)) throw new CheckFailed(`GET_INFO ${k} is ${show(got)}, expected ${show(want)}`);
      }
      return { detail: infoSummary(info), value: info, fromInfo: true };
    },
  },
  map: {
    run(s, a) {
      const ioasid = ioasidOf(a);
      const iova = toBig(a.iova, 'iova');
      const sz = toBig(a.size, 'size');
      const hugePages = a.hugePages as '2M' | '1G' | undefined;
      const vaddr = a.vaddr !== undefined ? toBig(a.vaddr, 'vaddr') : s.machine.vmm.mmap(sz, hugePages ? { hugePages } : {});
      s.fd.ioctl(IOASID_MAP_DMA, { ioasid, iova, vaddr, size: sz, read: a.read !== false, write: a.write !== false });
      const prot = `${a.read !== false ? 'r' : '-'}${a.write !== false ? 'w' : '-'}`;
      return { detail: `IOASID ${ioasid}: iova ${span(iova, sz)} → vaddr ${hex(vaddr)} ${prot}`, value: { iova, vaddr, size: sz } };
    },
  },
  unmap: {
    run(s, a) {
      const ioasid = ioasidOf(a);
      const req = a.all === true ? { ioasid, all: true } : { ioasid, iova: toBig(a.iova, 'iova'), size: toBig(a.size, 'size') };
      const bytes = s.fd.ioctl(IOASID_UNMAP_DMA, req) as bigint;
      if (a.bytes !== undefined && bytes !== toBig(a.bytes, 'bytes')) {
        throw new CheckFailed(`UNMAP_DMA returned ${hex(bytes)} bytes, expected ${hex(toBig(a.bytes, 'bytes'))}`);
      }
      return { detail: `IOASID ${ioasid}: ${a.all === true ? 'all' : span(req.iova!, req.size!)} → ${hex(bytes)} bytes unmapped`, value: bytes };
    },
  },
  'bind-pgtable': {
    requires: (s, a) => lacksProtocol(s, ioasidOf(a), 'user-pgtable'),
    run(s, a) {
      const ioasid = ioasidOf(a);
      const { addr, format } = boundTable(a, 'root');
      s.fd.ioctl(IOASID_BIND_PGTABLE, { ioasid, addr, format });
      return { detail: `IOASID ${ioasid}: ${format.kind} table at GPA ${hex(addr)}` };
    },
  },
  'bind-pasid-table': {
    requires: (s, a) => lacksProtocol(s, ioasidOf(a), 'user-pasid-table'),
    run(s, a) {
      const ioasid = ioasidOf(a);
      const { addr, format } = boundTable(a, 'addr');
      s.fd.ioctl(IOASID_BIND_PASID_TABLE, { ioasid, addr, format });
      return { detail: `IOASID ${ioasid}: ${format.kind} PASID table at GPA ${hex(addr)}` };
    },
  },
  'set-dirty-tracking': {
    requires: (s, a) => (s.fd.getInfo(ioasidOf(a)).dirtyTracking ? undefined : `GET_INFO of IOASID ${ioasidOf(a)} says dirtyTracking: false`),
    run(s, a) {
      const ioasid = ioasidOf(a);
      s.fd.ioctl(IOASID_SET_DIRTY_TRACKING, { ioasid, enable: a.enable === true });
      return { detail: `IOASID ${ioasid}: dirty logging ${a.enable === true ? 'on' : 'off'}` };
    },
  },
  'get-dirty-bitmap': {
    requires: (s, a) => (s.fd.getInfo(ioasidOf(a)).dirtyTracking ? undefined : `GET_INFO of IOASID ${ioasidOf(a)} says dirtyTracking: false`),
    run(s, a) {
      const ioasid = ioasidOf(a);
      const iova = toBig(a.iova, 'iova');
      const length = toBig(a.size, 'size');
      const pageSize = a.pageSize === undefined ? 4096n : toBig(a.pageSize, 'pageSize');
      const bitmap = s.fd.ioctl(IOASID_GET_DIRTY_BITMAP, { ioasid, iova, size: length, pageSize, ...(a.noClear === true ? { noClear: true } : {}) }) as Uint8Array;
      const pages = dirtyBits(bitmap);
      if (a.expect !== undefined) {
        const want = (a.expect as unknown[]).map((x, k) => Number(toBig(x, `expect[${k}]`)));
        if (want.length !== pages.length || want.some((x, k) => x !== pages[k])) throw new CheckFailed(`GET_DIRTY_BITMAP gave pages [${pages.join(', ')}], expected [${want.join(', ')}]`);
      }
      const shown = pages.length > 16 ? `${pages.slice(0, 8).join(', ')} … ${pages.slice(-4).join(', ')} (${pages.length} pages)` : pages.join(', ');
      return { detail: `IOASID ${ioasid}: ${span(iova, length)} per ${size(pageSize)}: dirty [${shown}]${a.noClear === true ? ' (kept)' : ''}`, value: pages };
    },
  },
  invalidate: {
    run(s, a) {
      const ioasid = ioasidOf(a);
      const pasid = optInt(a.pasid, 'pasid');
      const req =
        a.all === true
          ? { ioasid, all: true as const, ...(pasid !== undefined ? { pasid } : {}) }
          : { ioasid, iova: toBig(a.iova, 'iova'), size: toBig(a.size, 'size'), ...(pasid !== undefined ? { pasid } : {}) };
      s.fd.ioctl(IOASID_INVALIDATE_CACHE, req);
      const what = 'iova' in req ? span(req.iova, req.size) : 'all';
      return { detail: `IOASID ${ioasid}: ${what}${pasid !== undefined ? ` PASID ${pasid}` : ''}` };
    },
  },
  lookup: {
    run(s, a) {
      const ioasid = ioasidOf(a);
      const iova = toBig(a.iova, 'iova');
      const pasid = optInt(a.pasid, 'pasid');
      const v = s.fd.ioctl(IOASID_LOOKUP, { ioasid, iova, pasid }) as LookupView;
      if (a.output !== undefined && v.output !== toBig(a.output, 'output')) {
        throw new CheckFailed(`LOOKUP ${hex(iova)} gave ${v.output === null ? `no translation${v.fault ? ` (${v.fault})` : ''}` : hex(v.output)}, expected ${hex(toBig(a.output, 'output'))}`);
      }
      const out = v.output === null ? `not mapped${v.fault ? ` (${v.fault})` : ''}` : `${hex(v.output)}${v.pageSize ? ` in a ${size(v.pageSize)} page` : ''}`;
      return { detail: `IOASID ${ioasid}: ${hex(iova)} → ${out}; ${walkSummary(v)}`, value: v };
    },
  },
  free: {
    run(s, a) {
      const ioasid = ioasidOf(a);
      s.fd.ioctl(IOASID_FREE, ioasid);
      return { detail: `IOASID ${ioasid} freed` };
    },
  },
  close: {
    run(s) {
      s.fd.close();
      return { detail: 'fd closed; everything released' };
    },
  },
};
