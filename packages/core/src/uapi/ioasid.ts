import type { IommuDomain } from '../driver/driver.js';
import type { NestingKind, PgtableFormat, Protocol } from './info.js';
import { DmaMapList } from '../rules/dma-map.js';
import { FaultQueue } from '../faults/fault-queue.js';
import type { Device } from './device.js';

/** One attachment of a device to an IOASID (RID-level when userPasid is undefined). */
export interface Attachment {
  device: Device;
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
