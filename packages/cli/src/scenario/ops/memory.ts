import type { GuestPageTable, GuestPasidEntry, PgtableFormat } from '@ioasid/core';
import { CheckFailed, optInt, toBig, toBytes, toFormat, toInt } from '../values.js';
import { checkBytes } from './checks.js';
import { hex, shortBytes, span } from './describe.js';
import type { Args, Op, RunState } from './types.js';

/** What `as:` keeps for a guest page table. */
export interface GuestTableValue {
  root: bigint;
  format: PgtableFormat;
  table: GuestPageTable;
}

/** What `as:` keeps for a guest PASID/CD table. */
export interface GuestPasidTableValue {
  addr: bigint;
  format: PgtableFormat;
}

function guestHelpers(s: RunState) {
  return s.machine.driver.guest;
}

function applyGuestMaps(t: GuestPageTable, a: Args): string[] {
  const done: string[] = [];
  for (const u of (a.unmap as Args[] | undefined) ?? []) {
    const gva = toBig(u.gva, 'gva');
    const sz = toBig(u.size, 'size');
    t.unmap(gva, sz);
    done.push(`unmap ${span(gva, sz)}`);
  }
  for (const m of (a.map as Args[] | undefined) ?? []) {
    const gva = toBig(m.gva, 'gva');
    const gpa = toBig(m.gpa, 'gpa');
    const sz = toBig(m.size, 'size');
    t.map(gva, gpa, sz, { read: m.read !== false, write: m.write !== false });
    done.push(`${span(gva, sz)} → GPA ${hex(gpa)}`);
  }
  return done;
}

export const memoryOps: Record<string, Op> = {
  mmap: {
    run(s, a) {
      const sz = toBig(a.size, 'size');
      const hugePages = a.hugePages as '2M' | '1G' | undefined;
      const vaddr = s.machine.vmm.mmap(sz, hugePages ? { hugePages } : {});
      return { detail: `vaddr ${span(vaddr, sz)}${hugePages ? ` (${hugePages} pages)` : ''}`, value: vaddr };
    },
  },
  'guest-alloc': {
    run(s, a) {
      const size = toBig(a.size, 'size');
      const align = a.align === undefined ? 4096n : toBig(a.align, 'align');
      if (align < 4096n || (align & (align - 1n)) !== 0n) throw new CheckFailed(`guest-alloc align ${hex(align)} must be a power of two of at least 4 KiB`);
      const gpa = BigInt(s.machine.guest.allocFrames(Number((size + 4095n) / 4096n), Number(align / 4096n))) * 4096n;
      return { detail: `GPA ${span(gpa, size)} (VMM vaddr ${hex(s.machine.guest.vaddr + gpa)})`, value: { gpa, vaddr: s.machine.guest.vaddr + gpa, size } };
    },
  },
  'guest-write': {
    run(s, a) {
      const gpa = toBig(a.gpa, 'gpa');
      const bytes = toBytes(a.bytes, 'bytes');
      s.machine.guest.write(gpa, bytes);
      return { detail: `GPA ${hex(gpa)} ← ${shortBytes(bytes)}` };
    },
  },
  'guest-read': {
    run(s, a) {
      const gpa = toBig(a.gpa, 'gpa');
      const want = toBytes(a.expect, 'expect');
      const got = s.machine.guest.read(gpa, optInt(a.length, 'length') ?? want.length);
      checkBytes(`guest read at GPA ${hex(gpa)}`, got, want);
      return { detail: `GPA ${hex(gpa)} = ${shortBytes(got)}`, value: got };
    },
  },
  'vmm-write': {
    run(s, a) {
      const vaddr = toBig(a.vaddr, 'vaddr');
      const bytes = toBytes(a.bytes, 'bytes');
      s.machine.vmm.write(vaddr, bytes);
      return { detail: `vaddr ${hex(vaddr)} ← ${shortBytes(bytes)}` };
    },
  },
  'vmm-read': {
    run(s, a) {
      const vaddr = toBig(a.vaddr, 'vaddr');
      const want = toBytes(a.expect, 'expect');
      const got = s.machine.vmm.read(vaddr, optInt(a.length, 'length') ?? want.length);
      checkBytes(`VMM read at ${hex(vaddr)}`, got, want);
      return { detail: `vaddr ${hex(vaddr)} = ${shortBytes(got)}`, value: got };
    },
  },
  'guest-pgtable': {
    requires(s) {
      return guestHelpers(s)?.pageTableFormat ? undefined : `the ${s.vendor} driver offers no guest page-table format`;
    },
    run(s, a) {
      if (a.table !== undefined) {
        const v = a.table as GuestTableValue;
        const done = applyGuestMaps(v.table, a);
        return { detail: `table at GPA ${hex(v.root)}: ${done.join(', ') || 'unchanged'}`, value: v };
      }
      const format: PgtableFormat = toFormat(a.format, 'format');
      const table = s.machine.guest.createPageTable(guestHelpers(s)!.pageTableFormat(format));
      const done = applyGuestMaps(table, a);
      const value: GuestTableValue = { root: table.root, format, table };
      return { detail: `${format.kind} table at GPA ${hex(table.root)}${done.length ? `: ${done.join(', ')}` : ''}`, value };
    },
  },
  'guest-pasid-table': {
    requires(s) {
      return guestHelpers(s)?.buildPasidTable ? undefined : `the ${s.vendor} driver offers no guest PASID-table layout`;
    },
    run(s, a) {
      const format: PgtableFormat = toFormat(a.format, 'format');
      const entries: GuestPasidEntry[] = (a.entries as Args[]).map((e) => {
        const t = e.table as GuestTableValue;
        const asid = optInt(e.asid, 'asid');
        return { pasid: toInt(e.pasid, 'pasid'), root: t.root, pgtable: t.format, ...(asid !== undefined ? { asid } : {}) };
      });
      const addr = guestHelpers(s)!.buildPasidTable!(s.machine.guest, format, entries);
      const value: GuestPasidTableValue = { addr, format };
      return { detail: `${format.kind} at GPA ${hex(addr)} with PASID ${entries.map((e) => e.pasid).join(', ')}`, value };
    },
  },
  'guest-pasid-entry': {
    requires(s) {
      return guestHelpers(s)?.updatePasidEntry ? undefined : `the ${s.vendor} driver cannot rewrite guest PASID-table entries`;
    },
    run(s, a) {
      const t = a.table as GuestPasidTableValue;
      const pasid = toInt(a.pasid, 'pasid');
      const pg = a.pgtable as GuestTableValue | undefined;
      const asid = optInt(a.asid, 'asid');
      const entry = pg ? { pasid, root: pg.root, pgtable: pg.format, ...(asid !== undefined ? { asid } : {}) } : { pasid };
      guestHelpers(s)!.updatePasidEntry!(s.machine.guest, t.addr, t.format, entry);
      return { detail: `PASID ${pasid} ${pg ? `→ table at GPA ${hex(pg.root)}` : 'invalidated'}` };
    },
  },
};
