import { fail } from '../base/errors.js';
import type { Protocol } from '../base/info.js';
import type { IommuDriver } from '../driver/driver.js';
import type { AllocInjector } from '../memory/alloc-injector.js';
import { PAGE_SHIFT } from '../memory/host-memory.js';
import type { VmmMemory } from '../memory/vmm.js';
import { PinAccounting } from '../rules/accounting.js';
import { AttachIndex, topologyOf } from '../rules/groups.js';
import { IdAllocator } from '../rules/id-allocator.js';
import type { PasidAllocator } from '../rules/pasid-alloc.js';
import { SoftwareNesting } from '../nesting/software-nesting.js';
import type { FdDevice, IoasidObject } from './ioasid.js';
import { argObject, ioasidArg, onlyKeys, show, type Args } from './validate.js';

/**
 * IOASID numbers of one fd: 1 … IOASID_LIMIT − 1 (1,048,575 address spaces alive at once; one
 * more ALLOC / CREATE_NESTING → ENOSPC, checked before anything is allocated). Numbers are handed
 * out in ascending order until the space has been used once; after that the oldest freed number
 * comes back first (IdAllocator), so a live IOASID never shares its number and a just-freed
 * number is not reused at once. Wider than any vendor ID space a domain consumes (VT-d DIDs,
 * SMMU VMIDs/ASIDs: 2^16), so those report their own ENOSPC first.
 */
export const IOASID_LIMIT = 1 << 20;

/** The machine as an fd sees it. */
export interface FdHost {
  readonly vendor: string;
  readonly driver: IommuDriver;
  readonly vmm: VmmMemory;
  readonly injector: AllocInjector;
  readonly pasids: PasidAllocator;
  /** Locked-memory limit per fd in bytes. */
  readonly memlockLimit: bigint;
  readonly deviceList: readonly FdDevice[];
  device(name: string): FdDevice;
  /** The open fds (an fd leaves it at close). */
  readonly fds: { delete(fd: object): boolean };
  readonly kvm: { readonly hasMappings: boolean; forgetIoasid(fd: object, ioasid: number): void };
}

/**
 * What the commands of one fd work on (iommufd's `iommufd_ctx`): the object table, the lookup in
 * the order of checks, the devices bound, pin accounting and software nesting.
 */
export class FdContext {
  closed = false;
  readonly ioasids = new Map<number, IoasidObject>();
  readonly ids: IdAllocator;
  /** Devices and group members each IOASID holds (the group rule, GET_INFO). */
  readonly held: AttachIndex<FdDevice, IoasidObject>;
  readonly devices = new Set<FdDevice>();
  readonly accounting: PinAccounting;
  readonly nesting: SoftwareNesting;
  nextFaultId = 1;

  constructor(
    /** The fd itself, as devices hold it (`device.fd`). */
    readonly fd: object,
    readonly host: FdHost,
    ioasidLimit: unknown,
  ) {
    const limit = ioasidLimit ?? IOASID_LIMIT;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 2 || limit > IOASID_LIMIT) {
      fail('EINVAL', `ioasidLimit must be an integer in [2, ${IOASID_LIMIT}] (got ${show(limit)})`);
    }
    this.ids = new IdAllocator(1, limit, 'IOASID');
    this.accounting = new PinAccounting(Number(host.memlockLimit >> BigInt(PAGE_SHIFT)));
    this.nesting = new SoftwareNesting(host.vmm);
    this.held = new AttachIndex(topologyOf(host));
  }

  live(): void {
    if (this.closed) fail('EBADF', 'the IOASID fd is closed');
  }

  /** An IOASID by number: EBADF on a closed fd, EINVAL if `ioasid` is not a number at all, ENOENT if unknown. */
  get(ioasid: unknown, name = 'ioasid'): IoasidObject {
    this.live();
    const o = this.ioasids.get(ioasidArg(ioasid, name));
    if (!o) fail('ENOENT', `${name} ${String(ioasid)} does not exist in this fd`);
    return o;
  }

  /** The argument object of a command: EBADF on a closed fd first, then EINVAL if it is not one. */
  args(value: unknown, command: string): Args {
    this.live();
    return argObject(value, `${command} arguments`);
  }

  /** Whether `dev` is a device of this machine bound to this fd (never throws). */
  isBound(dev: FdDevice): boolean {
    return topologyOf(this.host).has(dev) && dev.fd === this.fd;
  }

  /** `dev` is a device of this machine bound to this fd (internal calls; EINVAL otherwise). */
  bound(dev: FdDevice): void {
    if (!this.isBound(dev)) fail('EINVAL', `${show(dev)} is not a device bound to this IOASID fd`);
  }

  /** The command's protocol is the IOASID's (else EOPNOTSUPP, before any argument is read). */
  expect(o: IoasidObject, protocol: Protocol, command: string): void {
    if (o.protocol !== protocol) {
      fail('EOPNOTSUPP', `${command} needs a '${protocol}' IOASID; IOASID ${o.id} was allocated with protocol '${o.protocol}'`);
    }
  }

  /** The group rule: EPERM while a group is only partly attached to `o`. */
  groups(o: IoasidObject): void {
    this.held.checkGroups(o);
  }
  /**
   * The common start of a command on one IOASID, in the order of checks (§9): the argument
   * object, the IOASID (ENOENT), its protocol (EOPNOTSUPP), the group rule (EPERM), its fields.
   */
  command(args: unknown, name: string, protocol: Protocol, fields: readonly string[]): { a: Args; o: IoasidObject } {
    const a = this.args(args, name);
    const o = this.get(a.ioasid);
    this.expect(o, protocol, name);
    this.groups(o);
    onlyKeys(a, fields, name);
    return { a, o };
  }

}
