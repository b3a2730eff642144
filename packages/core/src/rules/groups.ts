import { fail } from '../base/errors.js';

/**
 * Topology rules: the IOMMU group is the unit of isolation, as VFIO and iommufd
 * enforce it, and an mdev's parent belongs to the host driver.
 *
 * - Group members are the pdevs sharing a `group` number. An mdev is a group of its own (as a
 *   VFIO mdev is): it is isolated by the host PASID its driver chose, not by its RID.
 * - BIND: every member of a group binds to the same fd (another fd → EBUSY); a parent pdev and
 *   its mdevs are never bound at the same time, to any fd (→ EBUSY).
 * - ATTACH (RID level): a group's RID traffic goes to one IOASID. Each member's RID route is a
 *   stack (a parent IOASID, and a nested child over it for the whole group); the stacks of all
 *   members must stay prefixes of one another, so the group can move onto a child (or back) one
 *   member at a time but never split between two address spaces (→ EINVAL, as iommufd refuses a
 *   group member attaching to another domain). PASID attachments are the device's own.
 * - Commands: an IOASID refuses commands (EPERM) while some but not all members of a group are
 *   attached to it at RID level (the group is isolated only as a whole).
 */

/** What the topology rules read of a device. */
export interface GroupMember {
  readonly name: string;
  readonly kind: 'pdev' | 'mdev';
  readonly group: number;
  readonly desc: { readonly parent?: string };
  /** The fd the device is bound to (compared by identity only). */
  readonly fd: object | undefined;
}

/** What the rules read of an address space. */
export interface GroupSpace {
  readonly id: number;
  /** Read only to name the members a partly attached group is missing. */
  readonly attachments: readonly { readonly device: object; readonly userPasid: number | undefined }[];
}

/** What the rules read of an attachment (RID level when userPasid is undefined). */
export interface GroupAttachment<D extends GroupMember = GroupMember, S extends GroupSpace = GroupSpace> {
  readonly device: D;
  readonly ioasid: S;
  readonly userPasid: number | undefined;
}

/** The devices of one machine grouped once (a machine's devices are fixed at creation). */
export class Topology<D extends GroupMember = GroupMember> {
  private readonly groups = new Map<number, D[]>();
  private readonly mdevs = new Map<string, D[]>();
  private readonly byName = new Map<string, D>();
  private readonly devices = new Set<D>();

  constructor(devices: readonly D[]) {
    for (const d of devices) {
      this.devices.add(d);
      this.byName.set(d.name, d);
      if (d.kind === 'pdev') {
        const g = this.groups.get(d.group);
        if (g) g.push(d);
        else this.groups.set(d.group, [d]);
      } else if (d.desc.parent !== undefined) {
        const m = this.mdevs.get(d.desc.parent);
        if (m) m.push(d);
        else this.mdevs.set(d.desc.parent, [d]);
      }
    }
  }

  /** Whether `dev` is one of this machine's devices (never throws, whatever `dev` is). */
  has(dev: unknown): dev is D {
    return typeof dev === 'object' && dev !== null && this.devices.has(dev as D);
  }

  /** The pdevs of `dev`'s IOMMU group, `dev` included ([] for an mdev). */
  groupOf(dev: D): readonly D[] {
    return dev.kind === 'pdev' ? (this.groups.get(dev.group) ?? []) : [];
  }

  groupSize(group: number): number {
    return this.groups.get(group)?.length ?? 0;
  }

  members(group: number): readonly D[] {
    return this.groups.get(group) ?? [];
  }

  mdevsOf(parent: D): readonly D[] {
    return this.mdevs.get(parent.name) ?? [];
  }

  parentOf(mdev: D): D | undefined {
    return mdev.desc.parent === undefined ? undefined : this.byName.get(mdev.desc.parent);
  }

  /** BIND_IOASID_FD of `dev` to `fd` (anything with identity): EBUSY when the topology forbids it. */
  checkBind(dev: D, fd: object): void {
    if (dev.kind === 'pdev') {
      for (const s of this.groupOf(dev)) {
        if (s !== dev && s.fd !== undefined && s.fd !== fd) {
          fail('EBUSY', `device ${dev.name} shares IOMMU group ${dev.group} with ${s.name}, which is bound to another IOASID fd: every device of a group binds to the same fd`);
        }
      }
      for (const md of this.mdevsOf(dev)) {
        if (md.fd !== undefined) {
          fail('EBUSY', `device ${dev.name} is the parent of mdev ${md.name}, bound to ${md.fd === fd ? 'this' : 'another'} IOASID fd: the parent of an mdev in use belongs to the host driver`);
        }
      }
    } else {
      const parent = this.parentOf(dev);
      if (parent?.fd !== undefined) {
        fail('EBUSY', `mdev ${dev.name} rides on ${parent.name}, which is bound to ${parent.fd === fd ? 'this' : 'an'} IOASID fd itself: an mdev's parent must stay with the host driver`);
      }
    }
  }

  /**
   * A RID-level attach of pdev `dev` that puts `o` on top of its RID stack `below` (bottom first):
   * every other member's RID stack must stay a prefix of the new one or the other way round.
   */
  checkGroupAttach(dev: D, o: GroupSpace, below: readonly GroupAttachment[], ridStack: (d: D) => readonly GroupAttachment[]): void {
    const mine = [...below.map((a) => a.ioasid), o];
    for (const s of this.groupOf(dev)) {
      if (s === dev) continue;
      const theirs = ridStack(s);
      const n = Math.min(theirs.length, mine.length);
      for (let i = 0; i < n; i++) {
        if (theirs[i].ioasid !== mine[i]) {
          const there = theirs[theirs.length - 1].ioasid.id;
          fail('EINVAL', `device ${dev.name} cannot route its RID to IOASID ${o.id}: ${s.name}, of the same IOMMU group ${dev.group}, routes its RID to IOASID ${there}; a group's RID traffic goes to one IOASID (detach ${s.name} first, or attach ${dev.name} to ${there})`);
        }
      }
    }
  }
}

interface Held<D> {
  /** Device → how many of its attachments this IOASID holds. */
  devices: Map<D, number>;
  /** Group → how many of its members are attached here at RID level. */
  groups: Map<number, number>;
}

/**
 * What each IOASID of an fd holds, kept up to date at attach and detach, so that the group
 * check every command makes costs O(groups attached) and GET_INFO O(devices attached), whatever
 * number of PASID attachments exists.
 */
export class AttachIndex<D extends GroupMember = GroupMember, S extends GroupSpace = GroupSpace> {
  private readonly held = new Map<S, Held<D>>();

  constructor(private readonly topology: Topology<D>) {}

  private of(o: S): Held<D> {
    let h = this.held.get(o);
    if (!h) this.held.set(o, (h = { devices: new Map(), groups: new Map() }));
    return h;
  }

  added(a: GroupAttachment<D, S>): void {
    const h = this.of(a.ioasid);
    h.devices.set(a.device, (h.devices.get(a.device) ?? 0) + 1);
    if (a.device.kind === 'pdev' && a.userPasid === undefined) h.groups.set(a.device.group, (h.groups.get(a.device.group) ?? 0) + 1);
  }

  removed(a: GroupAttachment<D, S>): void {
    const h = this.held.get(a.ioasid);
    if (!h) return;
    const n = (h.devices.get(a.device) ?? 1) - 1;
    if (n > 0) h.devices.set(a.device, n);
    else h.devices.delete(a.device);
    if (a.device.kind === 'pdev' && a.userPasid === undefined) {
      const g = (h.groups.get(a.device.group) ?? 1) - 1;
      if (g > 0) h.groups.set(a.device.group, g);
      else h.groups.delete(a.device.group);
    }
    if (h.devices.size === 0) this.held.delete(a.ioasid);
  }

  forget(o: S): void {
    this.held.delete(o);
  }

  /** The distinct devices attached to `o`, in first-attach order. */
  devices(o: S): D[] {
    const h = this.held.get(o);
    return h ? [...h.devices.keys()] : [];
  }

  /** The group rule for commands on `o`: EPERM while a group is only partly attached (RID level). */
  checkGroups(o: S): void {
    const h = this.held.get(o);
    if (!h) return;
    for (const [g, n] of h.groups) {
      if (n < this.topology.groupSize(g)) {
        const missing = this.topology.members(g).filter((d) => !o.attachments.some((a) => a.device === d && a.userPasid === undefined));
        fail('EPERM', `IOMMU group ${g} is only partly attached to IOASID ${o.id}: attach ${missing.map((d) => d.name).join(', ')} too`);
      }
    }
  }
}

const topologies = new WeakMap<object, Topology>();

/** The topology of a machine, built on first use. */
export function topologyOf<D extends GroupMember>(machine: { readonly deviceList: readonly D[] }): Topology<D> {
  let t = topologies.get(machine);
  if (!t) topologies.set(machine, (t = new Topology(machine.deviceList)));
  return t as Topology<D>;
}

/**
 * The group rule for commands (compatibility entry point): EPERM while some but not all pdevs of
 * a group are attached to `o` at RID level. Costs O(attachments of o); the fd uses AttachIndex.
 */
export function checkGroups(o: { readonly id: number; readonly attachments: readonly GroupAttachment[] }, devices: readonly GroupMember[]): void {
  const groups = new Set<number>();
  for (const a of o.attachments) if (a.device.kind === 'pdev' && a.userPasid === undefined) groups.add(a.device.group);
  for (const g of groups) {
    const missing = devices.filter(
      (d) => d.kind === 'pdev' && d.group === g && !o.attachments.some((a) => a.device === d && a.userPasid === undefined),
    );
    if (missing.length > 0) {
      fail('EPERM', `IOMMU group ${g} is only partly attached to IOASID ${o.id}: attach ${missing.map((d) => d.name).join(', ')} too`);
    }
  }
}
