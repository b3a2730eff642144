import type { FaultRecord } from '../base/errors.js';

/** One I/O page fault or DMA error as READ_FAULTS returns it. */
export interface IoFault {
  id: number;
  ioasid: number;
  /** The label the device was bound with (names it in faults). */
  label: string;
  device: string;
  /** The PASID as the user knows it (vPASID), when the request carried one. */
  pasid?: number;
  iova: bigint;
  write: boolean;
  /** 'page-request' needs a PAGE_RESPONSE; 'unrecoverable' is a report only. */
  kind: 'page-request' | 'unrecoverable';
  record: FaultRecord;
}

/** Faults of one IOASID, in arrival order. */
export class FaultQueue {
  private readonly unread: IoFault[] = [];
  /** Page requests awaiting PAGE_RESPONSE, by id. */
  readonly pending = new Map<number, IoFault>();

  push(f: IoFault): void {
    this.unread.push(f);
    if (f.kind === 'page-request') this.pending.set(f.id, f);
  }

  drain(): IoFault[] {
    return this.unread.splice(0, this.unread.length);
  }

  get length(): number {
    return this.unread.length;
  }
}
