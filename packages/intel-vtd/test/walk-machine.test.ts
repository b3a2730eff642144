/**
 * The traced walk through the uAPI: LOOKUP (fd.lookup) and device.traceDma carry the unit's own
 * walk, which names the structures in the order the VT-d specification walks them (§3.4.3
 * scalable-mode address translation: root entry → scalable-mode context entry → PASID directory
 * entry → PASID table entry → paging entries, level 4 down to the leaf; nested first-stage tables
 * each found through the second stage, §3.8).
 */
import { describe, expect, it } from 'vitest';
import { isTraceRead, type TraceRead } from '@ioasid/core';
import { CONTEXT_ENTRY, PASID_DIR_ENTRY, PASID_TABLE_ENTRY, ROOT_ENTRY } from '../src/index.js';
import { bytes, vtdMachine } from './helpers.js';
import { structures } from './walk-support.js';

const TOP = [ROOT_ENTRY, CONTEXT_ENTRY, PASID_DIR_ENTRY, PASID_TABLE_ENTRY];

describe('fd.lookup(...).trace names the structures in spec order', () => {
  it('second-level (flow 5.1): root, context, PASID directory and table entries, then SS-PML4E … SS-PTE, the output LOOKUP decodes', () => {
    const { m } = vtdMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'a' });
    const ioasid = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(ioasid);
    const va = m.vmm.mmap(0x2000n);
    fd.mapDma({ ioasid, iova: 0x10000n, vaddr: va, size: 0x2000n, read: true, write: false });
    const view = fd.lookup(ioasid, 0x11234n);
    const t = view.trace!;
    expect(structures(t)).toEqual([...TOP, 'SS-PML4E', 'SS-PDPE', 'SS-PDE', 'SS-PTE']);
    const reads = t.events.filter(isTraceRead);
    expect(reads.slice(4).map((r) => [r.stage, r.level])).toEqual([['second-stage', 4], ['second-stage', 3], ['second-stage', 2], ['second-stage', 1]]);
    expect(reads.map((r) => r.raw.length)).toEqual([2, 4, 1, 8, 1, 1, 1, 1]); // 128-, 256-, 64-, 512-bit structures; 64-bit entries
    expect(reads[3].decided).toBe('PGTT = 010b (second-stage only)');
    expect(t.output).toBe(view.output);
    expect(t).toMatchObject({ perms: { read: true, write: false }, pageSize: 4096n });
    // The PTE index and address are those LOOKUP decodes; the trace shows the host physical entry.
    expect(reads[7].addr).toBe(view.steps.at(-1)!.entryAddr);
    // A write is refused at the PTE, and the trace says by which field.
    const w = fd.lookup(ioasid, 0x11234n, { write: true }).trace!;
    expect(w.fault).toMatchObject({ name: 'SM_WRITE' });
    expect(w.events.filter(isTraceRead).at(-1)!.decided).toBe('W = 0 (a write)');
    // device.traceDma is the same walk.
    expect(dev.traceDma(0x11234n)).toEqual(t);
  });

  it('nested (flow 5.4): each first-stage table fetch is a second-stage sub-walk under its entry; the output GPA is walked last', () => {
    const { m, driver } = vtdMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd, { label: 'a' });
    const parent = fd.alloc({ protocol: 'map' });
    fd.mapDma({ ioasid: parent, iova: 0n, vaddr: m.guest.vaddr, size: m.guest.size, read: true, write: true });
    dev.attachIoasid(parent);
    const child = fd.createNesting({ parent, protocol: 'user-pgtable' });
    dev.attachIoasid(child);
    const format = { kind: 'vtd-first-level', levels: 4 };
    const gpt = m.guest.createPageTable(driver.guest.pageTableFormat(format));
    const buf = m.guest.allocPages(0x1000n);
    gpt.map(0x100000n, buf, 0x1000n);
    fd.bindPgtable({ ioasid: child, addr: gpt.root, format });
    dev.dmaWrite(0x100000n, bytes(9));
    const t = fd.lookup(child, 0x100008n).trace!;
    const ssWalk = ['SS-PML4E', 'SS-PDPE', 'SS-PDE']; // guest RAM is mapped in 2 MiB second-stage pages
    expect(structures(t)).toEqual([...TOP, 'PML4E', 'PDPE', 'PDE', 'PTE', ...ssWalk]);
    const reads = t.events.filter(isTraceRead);
    expect(reads[3].decided).toBe('PGTT = 011b (nested)');
    const fs = reads.slice(4, 8);
    expect(fs.map((r) => [r.stage, r.level])).toEqual([['first-stage', 4], ['first-stage', 3], ['first-stage', 2], ['first-stage', 1]]);
    // The fetch of each first-stage table: the second-stage walk of the table's GPA, then the entry at the host address it gave.
    const gpas = [gpt.root, ...gpt.table.walk(0x100).slice(0, 3).map((s) => s.decoded.addr!)];
    fs.forEach((r: TraceRead, i) => {
      expect(r.via!.map((v) => v.structure)).toEqual(ssWalk);
      const leaf = r.via!.at(-1)!;
      const hostTable = (leaf.fields.ADDR as bigint) + (gpas[i] & ((1n << 21n) - 1n));
      expect(r.addr! & ~0xfffn).toBe(hostTable);
    });
    expect(reads.slice(8).every((r) => r.stage === 'second-stage' && r.via === undefined)).toBe(true);
    expect(m.hostMemory.read(t.output! - 8n, 1)[0]).toBe(9); // the byte the DMA wrote through the same walk
  });

  it('an mdev walks under its parent RID with its host PASID: directory index PASID >> 6, table index PASID & 63', () => {
    const { m } = vtdMachine({ devices: [{ name: 'pf' }, { name: 'm0', kind: 'mdev', parent: 'pf' }] });
    const fd = m.openIoasidFd();
    const md = m.device('m0');
    md.bindIoasidFd(fd, { label: 'm0' });
    const ioasid = fd.alloc({ protocol: 'map' });
    md.attachIoasid(ioasid);
    fd.mapDma({ ioasid, iova: 0x8000n, vaddr: m.vmm.mmap(0x1000n), size: 0x1000n, read: true, write: true });
    const pasid = md.wire(undefined).pasid;
    const t = md.traceDma(0x8000n)!;
    const reads = t.events.filter(isTraceRead);
    expect(reads.slice(0, 4).map((r) => [r.structure, r.index])).toEqual([
      [ROOT_ENTRY, 0], [CONTEXT_ENTRY, 0x08], [PASID_DIR_ENTRY, pasid >> 6], [PASID_TABLE_ENTRY, pasid & 63],
    ]);
    expect(reads[1].decided).toBe('P = 1, PASIDE = 1');
    expect(t.output).toBeDefined();
  });
});
