import type { Protocol } from '../base/info.js';

const RID = -1;

/** What the index reads of an attachment. */
export interface Route {
  readonly ioasid: { readonly parent: object | undefined; readonly protocol: Protocol };
  readonly userPasid: number | undefined;
  readonly wirePasid: number | undefined;
}

/**
 * The attachments of one device, indexed the ways the fd asks for them, so that ATTACH, DETACH,
 * an mdev's DMA and fault routing cost O(1) in what else exists (no scan over every IOASID).
 *
 * A route is the RID (no PASID) or one vPASID; its attachments form a stack, bottom first: a
 * nested child is pushed over its parent and takes the route over; detaching the top gives the
 * route back to the one below.
 */
export class DeviceRoutes<A extends Route = Route> {
  /** userPasid (RID = -1) → stack of attachments. */
  private readonly stacks = new Map<number, A[]>();
  /** PASID on the wire (none = -1) → stack of attachments that put it there (an mdev's host PASIDs). */
  private readonly wire = new Map<number, A[]>();
  /** Parent IOASID → how many attachments this device has to children nested in it. */
  private readonly nested = new Map<object, number>();
  private n = 0;
  private pasidTables = 0;

  get count(): number {
    return this.n;
  }

  /** Whether any attachment of this device uses a vPASID. */
  get usesUserPasid(): boolean {
    return this.n > this.stack(undefined).length;
  }

  /** Whether the device is attached to a PASID-table IOASID (one per device). */
  get hasPasidTable(): boolean {
    return this.pasidTables > 0;
  }

  stack(userPasid: number | undefined): readonly A[] {
    return this.stacks.get(userPasid ?? RID) ?? [];
  }

  top(userPasid: number | undefined): A | undefined {
    const s = this.stacks.get(userPasid ?? RID);
    return s ? s[s.length - 1] : undefined;
  }

  find(o: A['ioasid'], userPasid: number | undefined): A | undefined {
    return this.stack(userPasid).find((a) => a.ioasid === o);
  }

  /** The attachment that currently owns wire PASID `pasid` (-1 or undefined: no PASID). */
  onWire(pasid: number | undefined): A | undefined {
    const s = this.wire.get(pasid === undefined || pasid < 0 ? RID : pasid);
    return s ? s[s.length - 1] : undefined;
  }

  /** Attachments of this device to IOASIDs nested in `parent`. */
  nestedIn(parent: object): number {
    return this.nested.get(parent) ?? 0;
  }

  add(a: A): void {
    push(this.stacks, a.userPasid ?? RID, a);
    push(this.wire, a.wirePasid ?? RID, a);
    if (a.ioasid.parent) this.nested.set(a.ioasid.parent, this.nestedIn(a.ioasid.parent) + 1);
    if (a.ioasid.protocol === 'user-pasid-table') this.pasidTables++;
    this.n++;
  }

  remove(a: A): void {
    if (!pull(this.stacks, a.userPasid ?? RID, a)) return;
    pull(this.wire, a.wirePasid ?? RID, a);
    const p = a.ioasid.parent;
    if (p) {
      const k = this.nestedIn(p) - 1;
      if (k > 0) this.nested.set(p, k);
      else this.nested.delete(p);
    }
    if (a.ioasid.protocol === 'user-pasid-table') this.pasidTables--;
    this.n--;
  }

  /** Every attachment (RID stack first, then vPASIDs in first-use order). */
  all(): A[] {
    const out: A[] = [...this.stack(undefined)];
    for (const [k, s] of this.stacks) if (k !== RID) out.push(...s);
    return out;
  }
}

function push<K, A>(m: Map<K, A[]>, k: K, a: A): void {
  const s = m.get(k);
  if (s) s.push(a);
  else m.set(k, [a]);
}

function pull<K, A>(m: Map<K, A[]>, k: K, a: A): boolean {
  const s = m.get(k);
  const i = s ? s.lastIndexOf(a) : -1;
  if (!s || i < 0) return false;
  s.splice(i, 1);
  if (s.length === 0) m.delete(k);
  return true;
}
