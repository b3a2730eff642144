import { IOASID_GET_INFO, IOASID_PAGE_RESPONSE, IOASID_READ_FAULTS, type IoasidInfo, type IoFault } from '@ioasid/core';
import { CheckFailed, optInt, toBig, toBytes, toInt } from '../values.js';
import { checkBytes, withFaultExpectation } from './checks.js';
import { hex, shortBytes } from './describe.js';
import type { Op } from './types.js';

function faultText(f: IoFault): string {
  return `#${f.id} ${f.label} ${f.write ? 'write' : 'read'} ${hex(f.iova)}${f.pasid !== undefined ? ` PASID ${f.pasid}` : ''} ${f.kind} (${f.record.name})`;
}

const dmaOpts = (pasid: number | undefined, privileged: unknown) => ({
  ...(pasid !== undefined ? { pasid } : {}),
  ...(privileged === true ? { privileged: true } : {}),
});

export const dmaOps: Record<string, Op> = {
  'dma-write': {
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const iova = toBig(a.iova, 'iova');
      const bytes = toBytes(a.bytes, 'bytes');
      const pasid = optInt(a.pasid, 'pasid');
      const r = withFaultExpectation(a.fault, s.vendor, () => dev.dmaWrite(iova, bytes, dmaOpts(pasid, a.privileged)));
      const where = `${dev.name} write ${hex(iova)}${pasid !== undefined ? ` PASID ${pasid}` : ''}`;
      return { detail: r.fault ? `${where}: ${r.detail}` : `${where} ← ${shortBytes(bytes)}`, value: r.fault };
    },
  },
  'dma-read': {
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const iova = toBig(a.iova, 'iova');
      const want = a.expect !== undefined ? toBytes(a.expect, 'expect') : undefined;
      const length = optInt(a.length, 'length') ?? want?.length ?? 8;
      const pasid = optInt(a.pasid, 'pasid');
      const r = withFaultExpectation(a.fault, s.vendor, () => dev.dmaRead(iova, length, dmaOpts(pasid, a.privileged)));
      const where = `${dev.name} read ${hex(iova)}${pasid !== undefined ? ` PASID ${pasid}` : ''}`;
      if (r.fault) return { detail: `${where}: ${r.detail}`, value: r.fault };
      if (want) checkBytes(`DMA read at ${hex(iova)}`, r.value!, want);
      return { detail: `${where} = ${shortBytes(r.value!)}`, value: r.value };
    },
  },
  reset: {
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      if (!s.machine.driver.resetDevice) return { detail: `${dev.name}: the ${s.vendor} IOMMU keeps no sticky error state` };
      s.machine.driver.resetDevice(dev.desc);
      return { detail: `${dev.name}: error state cleared (POWER: EEH unfreeze)` };
    },
  },
  'read-faults': {
    run(s, a) {
      const ioasid = toInt(a.ioasid, 'ioasid');
      const faults = s.fd.ioctl(IOASID_READ_FAULTS, ioasid) as IoFault[];
      if (a.count !== undefined && faults.length !== toInt(a.count, 'count')) {
        throw new CheckFailed(`READ_FAULTS gave ${faults.length} fault${faults.length === 1 ? '' : 's'}, expected ${toInt(a.count, 'count')}`);
      }
      return { detail: `IOASID ${ioasid}: ${faults.length ? faults.map(faultText).join('; ') : 'no faults'}`, value: faults };
    },
  },
  'page-response': {
    run(s, a) {
      const ioasid = toInt(a.ioasid, 'ioasid');
      const id = toInt(a.id, 'id');
      s.fd.ioctl(IOASID_PAGE_RESPONSE, { ioasid, id, code: a.code });
      return { detail: `IOASID ${ioasid}: fault #${id} answered '${String(a.code)}'` };
    },
  },
  'kvm-map-pasid': {
    requires(s, a) {
      const info = s.fd.ioctl(IOASID_GET_INFO, toInt(a.ioasid, 'ioasid')) as IoasidInfo;
      return info.enqcmd ? undefined : `GET_INFO of IOASID ${String(a.ioasid)} does not report ENQCMD`;
    },
    run(s, a) {
      const guestPasid = toInt(a.guestPasid, 'guestPasid');
      const ioasid = toInt(a.ioasid, 'ioasid');
      s.machine.kvm.mapPasid({ guestPasid, fd: s.fd, ioasid });
      return { detail: `guest PASID ${guestPasid} → host PASID ${s.machine.kvm.translate(guestPasid)} (IOASID ${ioasid})` };
    },
  },
  'kvm-unmap-pasid': {
    run(s, a) {
      const guestPasid = toInt(a.guestPasid, 'guestPasid');
      s.machine.kvm.unmapPasid(guestPasid);
      return { detail: `guest PASID ${guestPasid} no longer translated` };
    },
  },
  enqcmd: {
    requires(s, a) {
      const dev = s.machine.device(String(a.device));
      return dev.getInfo().enqcmd ? undefined : `device ${dev.name} reports no ENQCMD (GET_INFO)`;
    },
    run(s, a) {
      const dev = s.machine.device(String(a.device));
      const guestPasid = toInt(a.guestPasid, 'guestPasid');
      const iova = toBig(a.iova, 'iova');
      const data = toBytes(a.bytes, 'bytes');
      const r = withFaultExpectation(a.fault, s.vendor, () => s.machine.kvm.enqcmd(dev, guestPasid, { iova, data }));
      const where = `${dev.name} ENQCMD guest PASID ${guestPasid} write ${hex(iova)}`;
      return { detail: r.fault ? `${where}: ${r.detail}` : `${where} ← ${shortBytes(data)}`, value: r.fault };
    },
  },
};
