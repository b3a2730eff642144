import type { DeviceOptions, ErrnoName, IoasidFd } from '@ioasid/core';

/** An open (or closed) fd of the model, with the VMM buffer it maps from. */
export interface MFd {
  name: string;
  /** Tag seeds of its buffer pages are unique per fd ever opened. */
  serial: number;
  fd: IoasidFd;
  buf: bigint;
  ioasids: MIoasid[];
}

export interface MIoasid {
  id: number;
  fd: MFd;
  parent?: MIoasid;
  /** Slot → buffer page (top level) or parent slot (software child). */
  maps: { s: number; n: number; target: number }[];
}

export interface MAtt {
  dev: string;
  io: MIoasid;
  userPasid?: number;
  /** The PASID on the wire (fd.describe(): a host PASID for an mdev). */
  wirePasid?: number;
}

/** What a topology rule demands of a call: which rule, and the errnos that refuse it. */
export interface Rule {
  text: string;
  errnos: ErrnoName[];
}

export function pageKey(serial: number, page: number): string {
  return `${serial}:${page}`;
}

/**
 * The shadow model of the topology property: which fd each device is bound to, what each
 * IOASID maps, what is attached where, and from that what each (device, PASID) may reach.
 * It follows what the implementation accepted (the isolation case keeps going after a rule the
 * implementation broke); `rule*` say what the topology rules demand before a call.
 */
export class TopoModel {
  readonly fds: MFd[] = [];
  readonly bound = new Map<string, MFd>();
  readonly atts: MAtt[] = [];
  private readonly specs = new Map<string, DeviceOptions>();

  constructor(readonly devices: readonly DeviceOptions[]) {
    for (const d of devices) this.specs.set(d.name, d);
  }

  kind(dev: string): 'pdev' | 'mdev' {
    return this.specs.get(dev)?.kind ?? 'pdev';
  }

  parentOf(dev: string): string | undefined {
    return this.specs.get(dev)?.parent;
  }

  groupOf(dev: string): number | undefined {
    return this.kind(dev) === 'pdev' ? this.specs.get(dev)?.group : undefined;
  }

  /** The other pdevs of dev's IOMMU group. */
  siblings(dev: string): string[] {
    const g = this.groupOf(dev);
    if (g === undefined) return [];
    return this.devices.filter((d) => d.name !== dev && (d.kind ?? 'pdev') === 'pdev' && d.group === g).map((d) => d.name);
  }

  mdevsOf(dev: string): string[] {
    return this.devices.filter((d) => d.kind === 'mdev' && d.parent === dev).map((d) => d.name);
  }

  label(dev: string): string {
    const g = this.groupOf(dev);
    return this.kind(dev) === 'mdev' ? `${dev} (mdev of ${this.parentOf(dev)})` : g !== undefined ? `${dev} (group ${'0x' + g.toString(16)})` : dev;
  }

  ioName(io: MIoasid): string {
    return `${io.fd.name} IOASID ${io.id}${io.parent ? ` (child of ${io.parent.id})` : ''}`;
  }

  // ---- routes ------------------------------------------------------------------------------

  /** The attachments of (dev, userPasid), bottom (a parent) first. */
  stack(dev: string, userPasid: number | undefined): MAtt[] {
    const mine = this.atts.filter((a) => a.dev === dev && a.userPasid === userPasid);
    return [...mine.filter((a) => !a.io.parent), ...mine.filter((a) => a.io.parent)];
  }

  route(dev: string, userPasid: number | undefined): MAtt | undefined {
    const s = this.stack(dev, userPasid);
    return s[s.length - 1];
  }

  related(a: MIoasid, b: MIoasid): boolean {
    return a === b || a.parent === b || b.parent === a;
  }

  /**
   * Where a pdev's requests without PASID may go: its own RID route, and the routes of group
   * siblings in the same nesting family (a group is isolated only as a whole: on POWER it is
   * one PE); with no route of its own, wherever its siblings route theirs.
   */
  ridSpaces(dev: string): MIoasid[] {
    const own = this.route(dev, undefined)?.io;
    const out = own ? [own] : [];
    for (const s of this.siblings(dev)) {
      const r = this.route(s, undefined)?.io;
      if (r && (!own || this.related(own, r))) out.push(r);
    }
    return out;
  }

  /** Every address space (dev, pasid on the wire) may reach; `why` says it in words. */
  spaces(dev: string, pasid: number | undefined): { spaces: MIoasid[]; why: string } {
    if (this.kind(dev) === 'mdev') {
      const r = this.route(dev, pasid);
      return { spaces: r ? [r.io] : [], why: r ? `${pasid === undefined ? 'its default space' : `vPASID ${pasid}`} → ${this.ioName(r.io)}` : `nothing attached${pasid === undefined ? '' : ` for vPASID ${pasid}`}` };
    }
    const rid = this.ridSpaces(dev);
    const ridWhy = rid.length === 0 ? 'its RID → nothing' : `its RID → ${rid.map((o) => this.ioName(o)).join(' / ')}`;
    if (pasid === undefined) return { spaces: rid, why: ridWhy };
    const r = this.route(dev, pasid);
    if (r) return { spaces: [r.io], why: `PASID ${pasid} → ${this.ioName(r.io)}` };
    // Without an attachment for the PASID, a vendor may fault it or treat it as a RID request.
    const out = [...rid];
    let why = `PASID ${pasid} → nothing attached, ${ridWhy}`;
    if (!this.bound.has(dev)) {
      // A parent left with the host driver issues DMA on behalf of its mdevs, with their PASIDs.
      for (const md of this.mdevsOf(dev)) {
        // Every live attachment of the mdev counts: one stacked under a nested child keeps its host PASID.
        for (const a of this.atts) {
          if (a.dev === md && a.wirePasid === pasid) {
            out.push(a.io);
            why += `, host PASID of ${md} → ${this.ioName(a.io)}`;
          }
        }
      }
    }
    return { spaces: out, why };
  }

  /** Buffer pages (pageKey) that `io` maps at slot s, through a software parent if nested. */
  pagesAt(io: MIoasid, s: number, depth = 0): Set<string> {
    const out = new Set<string>();
    if (depth > 3) return out;
    for (const m of io.maps) {
      if (s < m.s || s >= m.s + m.n) continue;
      const t = m.target + (s - m.s);
      if (!io.parent) out.add(pageKey(io.fd.serial, t));
      else for (const k of this.pagesAt(io.parent, t, depth + 1)) out.add(k);
    }
    return out;
  }

  allowed(dev: string, pasid: number | undefined, s: number): { pages: Set<string>; why: string } {
    const { spaces, why } = this.spaces(dev, pasid);
    const pages = new Set<string>();
    for (const o of spaces) for (const k of this.pagesAt(o, s)) pages.add(k);
    return { pages, why };
  }

  /** Who maps page `key` at slot s: "fd0 IOASID 1 (attached: p0m0 host PASID 1)", for messages. */
  holders(key: string, s: number): string {
    const out: string[] = [];
    for (const f of this.fds) {
      for (const io of f.ioasids) {
        if (!this.pagesAt(io, s).has(key)) continue;
        const atts = this.atts.filter((a) => a.io === io).map((a) => `${a.dev}${a.userPasid !== undefined ? ` vPASID ${a.userPasid}` : ''}${a.wirePasid !== undefined && a.wirePasid !== a.userPasid ? ` wire PASID ${a.wirePasid}` : ''}`);
        out.push(`${this.ioName(io)}${atts.length ? ` (attached: ${atts.join(', ')})` : ' (nothing attached)'}`);
      }
    }
    return out.length ? out.join('; ') : 'no IOASID of the model';
  }

  /** PASIDs in use anywhere on the machine (vPASIDs and wire PASIDs), ascending. */
  pasidsInUse(): number[] {
    const set = new Set<number>();
    for (const a of this.atts) {
      if (a.userPasid !== undefined) set.add(a.userPasid);
      if (a.wirePasid !== undefined) set.add(a.wirePasid);
    }
    return [...set].sort((a, b) => a - b);
  }

  // ---- rules ---------------------------------------------------------

  /** What BIND_IOASID_FD(dev → fd) must be refused for, if anything. */
  ruleForBind(dev: string, fd: MFd): Rule | null {
    if (this.bound.has(dev)) return null;
    if (this.kind(dev) === 'pdev') {
      for (const s of this.siblings(dev)) {
        const other = this.bound.get(s);
        if (other && other !== fd) {
          return { text: `topology: ${this.label(dev)} was bound to ${fd.name} while its group sibling ${s} is bound to ${other.name} (every device of a group binds to the same fd)`, errnos: ['EBUSY'] };
        }
      }
      for (const md of this.mdevsOf(dev)) {
        const at = this.bound.get(md);
        if (at) return { text: `topology: parent ${dev} was bound to ${fd.name} while its mdev ${md} is bound to ${at.name} (the parent of an mdev in use belongs to the host driver)`, errnos: ['EBUSY'] };
      }
      return null;
    }
    const p = this.parentOf(dev);
    const at = p === undefined ? undefined : this.bound.get(p);
    if (p !== undefined && at) return { text: `topology: mdev ${dev} was bound to ${fd.name} while its parent ${p} is bound to ${at.name} (an mdev's parent stays with the host driver)`, errnos: ['EBUSY'] };
    return null;
  }

  /** What a RID-level ATTACH(dev → io) must be refused for: a group sibling routed elsewhere. */
  ruleForAttach(dev: string, io: MIoasid, userPasid: number | undefined): Rule | null {
    if (userPasid !== undefined || this.kind(dev) !== 'pdev') return null;
    for (const s of this.siblings(dev)) {
      for (const a of this.stack(s, undefined)) {
        if (this.related(a.io, io)) continue;
        const errnos: ErrnoName[] = ['EINVAL'];
        // Another reason to refuse may be checked first: the device's own route, or a double attach.
        const own = this.route(dev, undefined);
        if (own && (own.io === io || own.io !== io.parent)) errnos.push('EBUSY');
        return {
          text: `topology: ${this.label(dev)} routed its RID to ${this.ioName(io)} while its group sibling ${s} routes its RID to ${this.ioName(a.io)} (a group's RID traffic goes to one IOASID)`,
          errnos,
        };
      }
    }
    return null;
  }

  // ---- changes the implementation accepted -------------------------------------------------

  dropIoasid(io: MIoasid): void {
    const gone = new Set<MIoasid>([io, ...io.fd.ioasids.filter((c) => c.parent === io)]);
    io.fd.ioasids.splice(0, io.fd.ioasids.length, ...io.fd.ioasids.filter((o) => !gone.has(o)));
    this.dropAtts((a) => gone.has(a.io));
  }

  dropAtts(pred: (a: MAtt) => boolean): void {
    const keep = this.atts.filter((a) => !pred(a));
    this.atts.splice(0, this.atts.length, ...keep);
  }

  closeFd(f: MFd): void {
    this.fds.splice(this.fds.indexOf(f), 1);
    this.dropAtts((a) => a.io.fd === f);
    for (const [d, at] of [...this.bound]) if (at === f) this.bound.delete(d);
    f.ioasids.length = 0;
  }
}
