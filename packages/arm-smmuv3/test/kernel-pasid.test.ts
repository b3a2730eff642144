import { describe, expect, it } from 'vitest';
import { DmaFault, IoasidError } from '@ioasid/core';
import { S2Domain, STE_WORDS, decodeCd, decodeSte, type SmmuV3Driver } from '../src/index.js';
import { catchFault, gpaSpace, MiB, open, pattern, smmuMachine } from './machine-helpers.js';
import { everyAllocationFailure } from '../../../test/support/atomicity.js';

function steOf(drv: SmmuV3Driver, sid: number) {
  const at = drv.strtab.steAddr(sid);
  const w = new Uint32Array(STE_WORDS);
  for (let k = 0; k < STE_WORDS; k++) w[k] = drv.host.u32(at + 4 * k);
  return decodeSte(w);
}

describe('kernel-managed IOASIDs attached per PASID (stage 1 STE with a kernel CD table)', () => {
  it('the StreamID keeps its space through CD 0 (S1DSS = SSID0); PASID 9 reaches another space through CD 9', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const a = fd.alloc({ protocol: 'map' });
    const b = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(2n * MiB, { hugePages: '2M' });
    const vb = m.vmm.mmap(64n * 1024n);
    m.vmm.write(va, pattern(1, 16));
    m.vmm.write(vb, pattern(2, 16));
    fd.mapDma({ ioasid: a, iova: 0x20_0000n, vaddr: va, size: 2n * MiB, read: true, write: true });
    dev.attachIoasid(a);
    expect(steOf(drv, dev.rid)).toMatchObject({ Config: 6 });
    dev.attachIoasid(b, { userPasid: 9 });
    fd.mapDma({ ioasid: b, iova: 0x20_0000n, vaddr: vb, size: 64n * 1024n, read: true, write: false });
    const ste = steOf(drv, dev.rid);
    expect(ste).toMatchObject({ Config: 5, S1DSS: 2, S2VMID: 0, S1Fmt: 2, S1CDMax: 20 });
    // The CDs in host memory point at the stage 1 copies of a and b.
    const da = fd.ioasidObject(a).domain as S2Domain;
    const db = fd.ioasidObject(b).domain as S2Domain;
    // Walk the two-level CD table from memory: L1CD 0 (V | L2Ptr[51:12]) → CD n at L2Ptr + 64·n.
    const l1 = m.hostMemory.u64(ste.S1ContextPtr);
    expect(l1 & 1n).toBe(1n);
    const cdAt = (n: number) => {
      const w = new Uint32Array(16);
      for (let k = 0; k < 16; k++) w[k] = m.hostMemory.u32(Number(l1 & 0xf_ffff_ffff_f000n) + n * 64 + 4 * k);
      return decodeCd(w);
    };
    expect(cdAt(0)).toMatchObject({ V: 1, ASID: da.s1!.asid, TTB0: da.s1!.table.root * 4096 });
    expect(cdAt(9)).toMatchObject({ V: 1, ASID: db.s1!.asid, TTB0: db.s1!.table.root * 4096 });
    expect(dev.dmaRead(0x20_0000n, 16)).toEqual(pattern(1, 16));
    expect(dev.dmaRead(0x20_0000n, 16, { pasid: 9 })).toEqual(pattern(2, 16));
    expect(catchFault(() => dev.dmaWrite(0x20_0000n, pattern(3, 4), { pasid: 9 }))).toMatchObject({ name: 'F_PERMISSION', stage: 1 });
    expect(catchFault(() => dev.dmaRead(0x20_0000n, 4, { pasid: 10 }))).toMatchObject({ name: 'C_BAD_CD' });
    // DUMP shows the stage 1 copy; LOOKUP with a PASID walks it.
    expect(fd.dumpPgtable(b).children![0].title).toMatch(/stage-1 copy/);
    expect(fd.lookup(b, 0x20_0000n, { pasid: 9 }).steps.every((st) => st.stage === 'stage-1')).toBe(true);
    // Unmap of b: TLBI_NH_VA on b's ASID under VMID 0, and the DMA faults at once.
    drv.cmdq.trace = [];
    fd.unmapDma({ ioasid: b, all: true });
    expect(drv.cmdq.trace.some((c) => c.op === 'TLBI_NH_VA' && c.fields.ASID === db.s1!.asid && c.fields.VMID === 0)).toBe(true);
    expect(() => dev.dmaRead(0x20_0000n, 4, { pasid: 9 })).toThrow(DmaFault);
    dev.detachIoasid(b, { userPasid: 9 });
    expect(steOf(drv, dev.rid)).toMatchObject({ Config: 6 });
    expect(catchFault(() => dev.dmaRead(0x20_0000n, 4, { pasid: 9 }))).toMatchObject({ name: 'C_BAD_SUBSTREAMID' });
    expect(dev.dmaRead(0x20_0000n, 16)).toEqual(pattern(1, 16));
  });

  it('PASIDs without a StreamID attachment: non-PASID traffic is terminated (S1DSS = terminate)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const b = fd.alloc({ protocol: 'map' });
    devs[0].attachIoasid(b, { userPasid: 4 });
    expect(steOf(drv, devs[0].rid)).toMatchObject({ Config: 5, S1DSS: 0 });
    expect(catchFault(() => devs[0].dmaRead(0x1000n, 4))).toMatchObject({ name: 'F_STREAM_DISABLED' });
  });

  it('kernel PASIDs and nesting exclude each other on one StreamID (one STE is stage 1 or stage 1+2)', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const [dev] = devs;
    const parent = gpaSpace(m, fd, [dev]);
    const b = fd.alloc({ protocol: 'map' });
    dev.attachIoasid(b, { userPasid: 3 });
    const child = fd.createNesting({ parent, protocol: 'user-pasid-table' });
    expect(() => dev.attachIoasid(child)).toThrow(/stage 1 \+ stage 2/);
    dev.detachIoasid(b, { userPasid: 3 });
    dev.attachIoasid(child);
    expect(() => dev.attachIoasid(b, { userPasid: 3 })).toThrow(/nested/);
  });

  it('an mdev has no PASID on SMMUv3: GET_INFO pasidBits 0, no nesting, and ATTACH fails with EINVAL', () => {
    const { m } = smmuMachine({ devices: [{ name: 'pf0' }, { name: 'md0', kind: 'mdev', parent: 'pf0' }] });
    const md = m.device('md0');
    expect(md.getInfo()).toMatchObject({ pasidBits: 0, protocols: ['map'], formats: [], pasidTableFormats: [] });
    const { fd } = open(m, 'md0');
    const a = fd.alloc({ protocol: 'map' });
    try {
      md.attachIoasid(a);
      throw new Error('attached');
    } catch (e) {
      expect(e).toBeInstanceOf(IoasidError);
      expect((e as IoasidError).errno).toBe('EINVAL');
    }
  });

  it('a PASID attach is atomic under allocation failure (CD table, leaf, stage 1 copy)', () => {
    const { m, drv } = smmuMachine();
    const { fd, devs } = open(m, 'dev0');
    const a = fd.alloc({ protocol: 'map' });
    const b = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(64n * 1024n);
    fd.mapDma({ ioasid: a, iova: 0x1000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    fd.mapDma({ ioasid: b, iova: 0x1000n, vaddr: va, size: 64n * 1024n, read: true, write: true });
    devs[0].attachIoasid(a);
    const n = everyAllocationFailure(m, () => devs[0].attachIoasid(b, { userPasid: 2 }), {
      state: () => ({ frames: m.hostMemory.framesInUse, ste: drv.strtab.readSte(devs[0].rid).join() }),
      limit: 100,
    });
    expect(n).toBeGreaterThan(3);
    expect(devs[0].dmaRead(0x1000n, 4, { pasid: 2 })).toEqual(m.vmm.read(va, 4));
  });
});

describe('the RID moving between kernel-managed spaces while PASIDs use CDs (found by the kit: adv-topology, --runs 10000)', () => {
  it('an ATS endpoint forgets the old space when CD 0 changes though the STE does not', () => {
    const { m } = smmuMachine();
    const { fd, devs } = open(m, 'dev1'); // ATS + PRI
    const [dev] = devs;
    const parent = fd.alloc({ protocol: 'map' });
    const va = m.vmm.mmap(8192n);
    m.vmm.write(va, pattern(0xa, 16));
    m.vmm.write(va + 4096n, pattern(0xb, 16));
    fd.mapDma({ ioasid: parent, iova: 0x10_0000n, vaddr: va, size: 4096n });
    fd.mapDma({ ioasid: parent, iova: 0x20_0000n, vaddr: va + 4096n, size: 4096n });
    dev.attachIoasid(parent);
    dev.attachIoasid(parent, { userPasid: 1 }); // a kernel PASID: stage 1 STE, the RID through CD 0
    expect([...dev.dmaRead(0x10_0000n, 16)]).toEqual([...pattern(0xa, 16)]); // cached in the ATC
    const child = fd.createNesting({ parent, protocol: 'map' });
    fd.mapDma({ ioasid: child, iova: 0x10_0000n, vaddr: 0x20_0000n, size: 4096n }); // child IOVA → parent IOVA of page b
    dev.attachIoasid(child); // the RID moves to the child: CD 0 is rewritten, the STE stays
    expect([...dev.dmaRead(0x10_0000n, 16)]).toEqual([...pattern(0xb, 16)]);
    dev.detachIoasid(child); // and back
    expect([...dev.dmaRead(0x10_0000n, 16)]).toEqual([...pattern(0xa, 16)]);
  });
});
