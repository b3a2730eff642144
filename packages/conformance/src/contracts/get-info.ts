import { IOASID_GET_INFO, type Device, type IoasidInfo, type IovaRange } from '@ioasid/core';
import type { CaseDef } from '../types.js';
import { check, closeFd, expectOk, fmtValue, newMachine, openFd } from '../kit.js';

const PROTOCOLS = ['map', 'user-pgtable', 'user-pasid-table'];
const U64_END = 1n << 64n;

/** Checks GET_INFO's shape; returns the problems found. */
export function infoProblems(info: IoasidInfo, attached: boolean): string[] {
  const p: string[] = [];
  const isBool = (k: keyof IoasidInfo) => typeof info[k] === 'boolean' || p.push(`${k} must be a boolean (got ${fmtValue(info[k])})`);
  if (!Array.isArray(info.protocols) || info.protocols.some((x) => !PROTOCOLS.includes(x)) || new Set(info.protocols).size !== info.protocols.length) {
    p.push(`protocols must be distinct values of ${PROTOCOLS.join(', ')} (got ${fmtValue(info.protocols)})`);
  }
  if (!['none', 'software', 'hardware'].includes(info.nesting)) p.push(`nesting must be none/software/hardware (got ${fmtValue(info.nesting)})`);
  if (!Array.isArray(info.pageSizes) || info.pageSizes.some((s, i) => typeof s !== 'bigint' || s < 4096n || (s & (s - 1n)) !== 0n || (i > 0 && s <= info.pageSizes[i - 1]))) {
    p.push(`pageSizes must be ascending powers of two ≥ 4 KiB as bigint (got ${fmtValue(info.pageSizes)})`);
  }
  const r = info.permittedRanges;
  if (!Array.isArray(r) || r.some((x, i) => typeof x.start !== 'bigint' || typeof x.last !== 'bigint' || x.start < 0n || x.start > x.last || x.last >= U64_END || (i > 0 && x.start <= r[i - 1].last))) {
    p.push(`permittedRanges must be ascending, disjoint {start, last} bigint ranges (got ${fmtValue(r)})`);
  }
  for (const k of ['formats', 'pasidTableFormats'] as const) {
    if (!Array.isArray(info[k]) || info[k].some((f) => typeof f !== 'object' || f === null || typeof f.kind !== 'string')) p.push(`${k} must be objects with a kind (got ${fmtValue(info[k])})`);
  }
  if (!Number.isInteger(info.pasidBits) || info.pasidBits < 0 || info.pasidBits > 20) p.push(`pasidBits must be an integer 0..20 (got ${fmtValue(info.pasidBits)})`);
  isBool('coherent');
  isBool('enqcmd');
  isBool('pageRequest');
  isBool('ats');
  if (attached) {
    if (!info.protocols?.includes('map')) p.push(`every device supports the 'map' protocol (got ${fmtValue(info.protocols)})`);
    if (info.pageSizes?.length === 0) p.push('pageSizes must not be empty');
    if (r?.length === 0) p.push('permittedRanges must not be empty');
    if (info.protocols?.includes('user-pgtable') && info.formats?.length === 0) p.push("'user-pgtable' is listed without any bindable format");
    if (info.protocols?.includes('user-pgtable') && info.nesting !== 'hardware') p.push(`'user-pgtable' binding is hardware nesting, but nesting is ${fmtValue(info.nesting)}`);
    if (info.protocols?.includes('user-pasid-table') && (info.pasidTableFormats?.length === 0 || info.pasidBits === 0)) p.push("'user-pasid-table' is listed without a PASID-table format or PASID bits");
    if (!info.protocols?.includes('user-pasid-table') && info.pasidTableFormats?.length > 0) p.push("pasidTableFormats are listed without the 'user-pasid-table' protocol");
  }
  return p;
}

function within(inner: readonly IovaRange[], outer: readonly IovaRange[]): boolean {
  return inner.every((x) => outer.some((o) => o.start <= x.start && x.last <= o.last));
}

function subsetInfo(sub: IoasidInfo, sup: IoasidInfo): string[] {
  const p: string[] = [];
  if (!sub.protocols.every((x) => sup.protocols.includes(x))) p.push(`protocols ${fmtValue(sub.protocols)} ⊄ ${fmtValue(sup.protocols)}`);
  if (!sub.pageSizes.every((x) => sup.pageSizes.includes(x))) p.push(`pageSizes ${fmtValue(sub.pageSizes)} ⊄ ${fmtValue(sup.pageSizes)}`);
  if (!within(sub.permittedRanges, sup.permittedRanges)) p.push(`permittedRanges ${fmtValue(sub.permittedRanges)} ⊄ ${fmtValue(sup.permittedRanges)}`);
  if (sub.pasidBits > sup.pasidBits) p.push(`pasidBits ${sub.pasidBits} > ${sup.pasidBits}`);
  for (const k of ['coherent', 'enqcmd', 'pageRequest', 'ats'] as const) if (sub[k] && !sup[k]) p.push(`${k} claimed by the IOASID but not by a device`);
  return p;
}

export const getInfoCase: CaseDef = {
  id: 'contract-get-info',
  group: 'contract',
  title: 'GET_INFO: shapes of §9, device flags follow the device, IOASID info is the intersection over attached devices',
  run(env) {
    const m = newMachine(env);
    // Device GET_INFO after BIND_IOASID_FD, before any IOASID exists.
    const { fd, devs } = openFd(m, 'dev0', 'dev1', 'pri0', 'md0', 'wq0');
    const [d0, d1, pri] = devs;
    const infos = new Map<Device, IoasidInfo>();
    for (const d of devs) {
      let info: IoasidInfo;
      try {
        info = d.getInfo();
      } catch (e) {
        if (d.kind === 'mdev') continue; // a vendor without mdev support may refuse to describe one
        throw e;
      }
      const problems = infoProblems(info, true);
      check(problems.length === 0, () => `GET_INFO(${d.name}): ${problems.join('; ')}`);
      infos.set(d, info);
    }
    for (const d of [d0, d1]) {
      const i = infos.get(d)!;
      check(!i.pageRequest && !i.ats && !i.enqcmd, () => `GET_INFO(${d.name}) claims pageRequest/ats/enqcmd for a device without PRI/ATS/ENQCMD: ${fmtValue(i)}`);
    }
    check(!infos.get(pri)!.enqcmd, 'pri0 is not ENQCMD-capable');

    const a = expectOk(() => fd.alloc({ protocol: 'map' }), 'ALLOC');
    const lone = fd.getInfo(a);
    const lp = infoProblems(lone, false);
    check(lp.length === 0, () => `GET_INFO before attach: ${lp.join('; ')}`);
    check(lone.protocols.length === 1 && lone.protocols[0] === 'map' && lone.pageSizes.length === 0 && lone.permittedRanges.length === 0 && lone.formats.length === 0 && lone.pasidBits === 0,
      () => `GET_INFO before any attach reports only the format: ${fmtValue(lone)}`);

    expectOk(() => d0.attachIoasid(a), 'ATTACH dev0');
    const one = fd.getInfo(a);
    const p1 = [...infoProblems(one, true), ...subsetInfo(one, infos.get(d0)!)];
    check(p1.length === 0, () => `GET_INFO(ioasid) with dev0: ${p1.join('; ')}`);
    expectOk(() => pri.attachIoasid(a), 'ATTACH pri0');
    const two = fd.getInfo(a);
    const p2 = [...infoProblems(two, true), ...subsetInfo(two, infos.get(d0)!), ...subsetInfo(two, infos.get(pri)!)];
    check(p2.length === 0, () => `GET_INFO(ioasid) with dev0 + pri0: ${p2.join('; ')}`);
    check(!two.pageRequest, () => 'the intersection over dev0 (no PRI) and pri0 cannot claim pageRequest');
    const viaIoctl = fd.ioctl(IOASID_GET_INFO, { ioasid: a });
    check(fmtValue(viaIoctl) === fmtValue(two), () => `ioctl(GET_INFO) and getInfo() differ: ${fmtValue(viaIoctl)} vs ${fmtValue(two)}`);

    // The hardware view: registers are a record of bigint, and reading has no side effect.
    const regs = m.iommu.registers();
    check(Object.keys(regs).length > 0 && Object.values(regs).every((v) => typeof v === 'bigint'), () => `machine.iommu.registers() must be a non-empty record of bigint: ${fmtValue(regs)}`);
    check(fmtValue(m.iommu.registers()) === fmtValue(regs), 'reading the registers twice gives the same snapshot');
    closeFd(fd);
  },
};
