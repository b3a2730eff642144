import { createMachine, type IoasidInfo, type VendorRegistration } from '@ioasid/core';
import { defaultMachineOptions } from '../vendors.js';

export interface DeviceInfoView {
  name: string;
  rid: number;
  kind: 'pdev' | 'mdev';
  info: IoasidInfo;
}

/** GET_INFO of one vendor's default machine: per device, and of a 'map' IOASID they attach to. */
export interface VendorInfoView {
  vendor: string;
  description: string;
  devices: DeviceInfoView[];
  ioasid?: {
    id: number;
    attached: string[];
    notAttached: { device: string; reason: string }[];
    info: IoasidInfo;
  };
  /** Set when the default machine could not be built or queried. */
  error?: string;
}

export function collectVendorInfo(reg: VendorRegistration): VendorInfoView {
  const view: VendorInfoView = { vendor: reg.vendor, description: reg.description, devices: [] };
  try {
    const machine = createMachine(defaultMachineOptions(reg) as { vendor: string });
    const fd = machine.openIoasidFd();
    try {
      // Device GET_INFO after BIND_IOASID_FD and before any IOASID exists: binding is when a
      // vendor sets the device up (on POWER, its RTT entry and default-window TVE).
      const bound = new Set<string>();
      const notAttached: { device: string; reason: string }[] = [];
      for (const d of machine.deviceList) {
        try {
          d.bindIoasidFd(fd, { label: d.name });
          bound.add(d.name);
        } catch (e) {
          notAttached.push({ device: d.name, reason: e instanceof Error ? e.message : String(e) });
        }
        view.devices.push({ name: d.name, rid: d.rid, kind: d.kind, info: d.getInfo() });
      }
      const id = fd.alloc({ protocol: 'map' });
      const attached: string[] = [];
      for (const d of machine.deviceList) {
        if (!bound.has(d.name)) continue;
        try {
          d.attachIoasid(id);
          attached.push(d.name);
        } catch (e) {
          notAttached.push({ device: d.name, reason: e instanceof Error ? e.message : String(e) });
        }
      }
      view.ioasid = { id, attached, notAttached, info: fd.getInfo(id) };
    } finally {
      fd.close();
    }
  } catch (e) {
    view.error = e instanceof Error ? e.message : String(e);
  }
  return view;
}
