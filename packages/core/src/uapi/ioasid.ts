import type { DeviceDesc, IommuDomain, PageResponseCode } from '../driver/driver.js';
import type { NestingKind, PgtableFormat, Protocol } from '../base/info.js';
import { DmaMapList } from '../rules/dma-map.js';
import { FaultQueue } from '../faults/fault-queue.js';
import type { DeviceRoutes } from './device-routes.js';

/** A device as the fd sees it (the VFIO-like `Device` is one). */
export interface FdDevice {
  readonly name: string;
  readonly kind: 'pdev' | 'mdev';
  readonly group: number;
  readonly desc: DeviceDesc;
  /** The fd the device is bound to: set by the fd at bind, cleared at unbind. */
  fd: object | undefined;
  label: string;
  /** This device's attachments, indexed by route (kept by the fd it is bound to). */
  readonly routes: DeviceRoutes<Attachment>;
  receivePageResponse(r: { pasid?: number; iova: bigint; code: PageResponseCode }): void;
}

/** One attachment of a device to an IOASID (RID-level when userPasid is undefined). */
export interface Attachment {
  device: FdDevice;
  ioasid: IoasidObject;
  userPasid: number | undefined;
  /** PASID on the wire: the vPASID for a pdev, a kernel-allocated host PASID for an mdev. */
  wirePasid: number | undefined;
  /** Host PASID allocated for this attachment alone (freed at detach). */
  ownsPasid: boolean;
}

/** An I/O address space inside an fd (the proposal's `ioasid_data`). */
export class IoasidObject {
  readonly maps = new DmaMapList();
  readonly attachments: Attachment[] = [];
  readonly children = new Set<IoasidObject>();
  readonly faults = new FaultQueue();
  /** Shared host PASID for ENQCMD (ioasid_get_global_pasid). */
  globalPasid: number | undefined;
  globalPasidUsers = 0;
  bound: { addr: bigint; format: PgtableFormat } | undefined;
  /** SET_DIRTY_TRACKING is on: every device attached must be able to track. */
  dirtyTracking = false;

  constructor(
    readonly id: number,
    readonly protocol: Protocol,
    readonly format: Readonly<Record<string, unknown>>,
    readonly domain: IommuDomain,
    readonly parent: IoasidObject | undefined,
    readonly nesting: NestingKind,
  ) {}

  /** A software-nested child: its maps are parent IOVAs, its domain is the shadow. */
  get isSoftwareChild(): boolean {
    return this.nesting === 'software' && this.parent !== undefined;
  }
}
