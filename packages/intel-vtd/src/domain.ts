import {
  fail,
  PROT_READ,
  PROT_WRITE,
  RadixPageTable,
  type DeviceDesc,
  type DomainDump,
  type InvalidateRequest,
  type IommuDomain,
  type IovaRange,
  type LookupView,
  type PhysRuns,
  type Protocol,
} from '@ioasid/core';
import type { PasidEntry } from './tables/pasid-entry.js';
import { hex } from './tables/qwords.js';
import type { DeviceAttachment, RouteOwner, VtdDomainHost } from './domain-host.js';

/**
 * What the domains share: a domain ID, the list of (device, PASID) routes it is attached at, and
 * the attach/detach protocol through the driver's PASID-entry programming.
 */
export abstract class VtdDomain implements IommuDomain, RouteOwner {
  abstract readonly protocol: Protocol;
  readonly attachments: DeviceAttachment[] = [];
  destroyed = false;

  constructor(
    readonly driver: VtdDomainHost,
    readonly did: number,
  ) {}

  /** The PASID entry this domain wants at its routes, or null while it cannot translate (blocked). */
  abstract pasidEntry(): PasidEntry | null;
  abstract info(): { pageSizes: bigint[]; permittedRanges: IovaRange[] };
  abstract invalidate(req: InvalidateRequest): void;
  abstract dump(): DomainDump;
  abstract lookup(iova: bigint, pasid?: number): LookupView;
  protected abstract freeTables(): void;

  map(_iova: bigint, _size: bigint, _phys: PhysRuns, _prot: number): void {
    fail('EOPNOTSUPP', `a ${this.protocol} address space is not mapped with MAP_DMA`);
  }

  unmap(_iova: bigint, _size: bigint): void {
    fail('EOPNOTSUPP', `a ${this.protocol} address space is not unmapped with UNMAP_DMA`);
  }

  findAttachment(dev: DeviceDesc, pasid: number | undefined): number {
    return this.attachments.findIndex((a) => a.dev.name === dev.name && a.ridLevel === (pasid === undefined) && (pasid === undefined || a.pasid === pasid));
  }

  checkAttach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): string | null {
    if (this.destroyed) return 'the address space is being destroyed';
    if (pasid !== undefined) {
      if (!Number.isInteger(pasid) || pasid < 0) return `PASID ${pasid} is not a PASID`;
      if (pasid === 0) return 'PASID 0 is the RID_PASID the context entry uses for requests without PASID';
      if (pasid >= 2 ** this.driver.pasidBits) return `PASID ${hex(pasid)} exceeds the unit's ${this.driver.pasidBits}-bit PASIDs (ECAP.PSS)`;
    }
    if (this.findAttachment(dev, pasid) >= 0) return `${dev.name} is already attached here${pasid === undefined ? '' : ` with PASID ${pasid}`}`;
    return this.driver.checkRoute(this, dev, pasid, replacing);
  }

  attach(dev: DeviceDesc, pasid: number | undefined, replacing?: IommuDomain): void {
    const why = this.checkAttach(dev, pasid, replacing);
    if (why) fail('EINVAL', why);
    const a = { dev, rid: dev.rid, pasid: pasid ?? 0, ridLevel: pasid === undefined, ats: false };
    this.driver.attachRoute(this, a);
    this.attachments.push(a);
  }

  detach(dev: DeviceDesc, pasid: number | undefined): void {
    const i = this.findAttachment(dev, pasid);
    if (i < 0) fail('ENOENT', `${dev.name} is not attached here${pasid === undefined ? '' : ` with PASID ${pasid}`}`);
    const [a] = this.attachments.splice(i, 1);
    this.driver.detachRoute(this, a);
  }

  destroy(): void {
    if (this.attachments.length) fail('EBUSY', `address space still has ${this.attachments.length} attachment(s)`);
    if (this.destroyed) return;
    this.freeTables();
    this.destroyed = true;
    this.driver.freeDid(this.did);
  }

  protected permittedRanges(aw: number): IovaRange[] {
    const top = (1n << BigInt(aw)) - 1n;
    return [
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: top },
    ];
  }
}

/** Turns MAP_DMA's prot into R/W bits, refusing a mapping that grants nothing. */
export function checkProt(prot: number): number {
  const p = prot & (PROT_READ | PROT_WRITE);
  if (p === 0) fail('EINVAL', 'prot must grant read or write access');
  return p;
}

export { RadixPageTable };
