/** errno values as Linux defines them (include/uapi/asm-generic/errno-base.h, errno.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;

export type ErrnoName = keyof typeof Errno;

/**
 * The failure of a uAPI command: `errno` names the rule, `message` names the argument. As Node's
 * own system errors do, `code` is the errno name too (`e.code === 'ENOENT'`); the number Linux
 * gives it is `errnoNumber` (2 for ENOENT).
 */
export class IoasidError extends Error {
  readonly errno: ErrnoName;
  readonly code: ErrnoName;
  readonly errnoNumber: number;
  constructor(errno: ErrnoName, message: string) {
    super(`${errno}: ${message}`);
    this.name = 'IoasidError';
    this.errno = errno;
    this.code = errno;
    this.errnoNumber = Errno[errno];
  }
}

export function fail(errno: ErrnoName, message: string): never {
  throw new IoasidError(errno, message);
}

/** A vendor fault record: common fields plus whatever the vendor's format carries. */
export interface FaultRecord {
  rid: number;
  pasid?: number;
  iova: bigint;
  write: boolean;
  code: number;
  name: string;
  /** One line from the vendor's specification saying what the code means. */
  explain?: string;
  [vendorField: string]: unknown;
}

/** Thrown by a device DMA that the IOMMU blocked. */
export class DmaFault extends Error {
  readonly record: FaultRecord;
  constructor(record: FaultRecord) {
    super(`DMA ${record.write ? 'write' : 'read'} at 0x${record.iova.toString(16)} from RID 0x${record.rid.toString(16)}` +
      `${record.pasid !== undefined ? ` PASID ${record.pasid}` : ''} blocked: ${record.name} (${record.code})` +
      `${record.explain ? ` — ${record.explain}` : ''}`);
    this.name = 'DmaFault';
    this.record = record;
  }
}
