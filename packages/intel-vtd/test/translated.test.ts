/**
 * Translated requests (PCIe AT = translated: the address is a host address the device took from
 * its ATC). VT-d §9.4: the scalable-mode context entry's DTE = 0 blocks them, DTE = 1 lets them
 * bypass address translation (§4.2.5); a PASID needs EPTR, which this unit does not implement.
 * Codes from §7.1.3 table 30: SCT.5 44h (Linux dma_remap_sm_fault_reasons "SM: DTE field in
 * Context Entry is clear"), SCT.10 49h, SGN.4.1 83h, SGN.8.3 87h. Linux sets DTE for a device
 * that supports ATS (drivers/iommu/intel/pasid.c context_entry_set_pasid_table: info->ats_supported
 * → context_set_sm_dte); QEMU has no VTD_FR_ symbol for 44h.
 */
import { describe, expect, it } from 'vitest';
import { WalkTracer, type DmaRequest, type FaultRecord } from '@ioasid/core';
import { CONTEXT_ENTRY, FR, TRANSLATED_BEYOND_HAW, type UnitFault } from '../src/index.js';
import { Hand } from './hand.js';
import { vtdMachine } from './helpers.js';

const HPA = 0x40000000n;
const frameOf = (a: bigint) => Number(a >> 12n);

function translated(h: Hand, addr: bigint, o: Partial<DmaRequest> = {}) {
  return h.unit.translate({ rid: 0x08, pasid: -1, iovaFrame: frameOf(addr), write: false, privileged: false, translated: true, ...o });
}

function faultOf(r: unknown): UnitFault {
  expect(typeof r, 'expected a fault record').toBe('object');
  return r as UnitFault;
}

describe('a translated request is accepted only where the context entry enables the device-TLB (DTE)', () => {
  it('DTE = 1: it passes with its own (host) address, without a look at the PASID or page tables', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    h.pasid(0, { p: false }); // nothing maps anything: an untranslated request faults
    expect(translated(h, HPA + 0x5000n)).toBe(frameOf(HPA + 0x5000n));
    expect(translated(h, HPA, { write: true })).toBe(frameOf(HPA));
    expect(faultOf(h.dma(HPA)).name).toBe('PASID_ENTRY_P');
  });

  it('DTE = 0: blocked with 44h SM_DTE_ABS, whatever the page tables map (the untranslated request still passes)', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(HPA, HPA, 0x1000n);
    expect(h.dma(HPA)).toBe(frameOf(HPA));
    const f = faultOf(translated(h, HPA));
    expect(f).toMatchObject({ code: 0x44, name: 'SM_DTE_ABS', translated: true, stage: 'context' });
    expect(f.frcd).toBeGreaterThanOrEqual(0);
  });

  it('SM_DTE_ABS is qualified: FPD in the context entry suppresses its recording, not the block', () => {
    const h = new Hand();
    h.context(0x08, { dte: false, fpd: true });
    const f = faultOf(translated(h, HPA));
    expect(f).toMatchObject({ name: 'SM_DTE_ABS', fpd: true, frcd: -1 });
    expect(h.unit.registers().FSTS_REG & 2n).toBe(0n); // no PPF
  });

  it('with a PASID: 49h SM_EPTR_ABS even with DTE = 1 (EPTR is reserved 0 here); DTE = 0 is checked first (44h)', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    expect(faultOf(translated(h, HPA, { pasid: 1 }))).toMatchObject({ code: 0x49, name: 'SM_EPTR_ABS', pasid: 1 });
    h.context(0x08, { dte: false });
    h.unit.contextCache.invalidateAll();
    expect(faultOf(translated(h, HPA, { pasid: 1 })).name).toBe('SM_DTE_ABS');
  });

  it('the context entry is still read and checked: not present is 41h, a missing root entry 39h', () => {
    const h = new Hand();
    h.rawContext(0x08, [0n, 0n, 0n, 0n]);
    expect(faultOf(translated(h, HPA)).name).toBe('SM_CONTEXT_ENTRY_P');
    expect(faultOf(translated(h, HPA, { rid: 0x0108 })).name).toBe('SM_ROOT_ENTRY_P');
  });

  it('an address at or above 2^HAW is 83h (SGN.4.1), the interrupt range 87h (SGN.8.3)', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    const f = faultOf(translated(h, 1n << 48n));
    expect(f).toMatchObject({ code: FR.SM_ADDR_BEYOND_MGAW, explain: TRANSLATED_BEYOND_HAW });
    expect(faultOf(translated(h, 0xfee00000n)).code).toBe(FR.SM_INTERRUPT_ADDR);
    expect(translated(h, (1n << 48n) - 4096n)).toBe(frameOf((1n << 48n) - 4096n));
  });

  it('with translation disabled (GSTS.TES = 0) every request passes as it is', () => {
    const h = new Hand();
    h.unit.write('GCMD_REG', 0n);
    expect(translated(h, HPA)).toBe(frameOf(HPA));
  });

  it('the traced walk reads the root and context entries only, and names DTE as what decided', () => {
    const h = new Hand();
    const t = new WalkTracer();
    const r = h.unit.walk({ rid: 0x08, pasid: -1, iovaFrame: frameOf(HPA), write: false, privileged: false, translated: true }, t);
    expect((r as FaultRecord).name).toBe('SM_DTE_ABS');
    const reads = t.finish(r, 0).events;
    expect(reads.map((e) => ('structure' in e ? e.structure : e.cache))).toEqual(['scalable-mode root entry', CONTEXT_ENTRY]);
    expect(reads[1]).toMatchObject({ decided: 'DTE = 0 (a translated request)' });
  });

  it('a machine device with ATS gets DTE = 1 from the driver: its translated request passes; one without ATS is blocked', () => {
    const { m } = vtdMachine({ devices: [{ name: 'ats', rid: 0x08, ats: true }, { name: 'plain', rid: 0x10 }] });
    const fd = m.openIoasidFd();
    for (const name of ['ats', 'plain']) {
      const d = m.device(name);
      d.bindIoasidFd(fd, { label: name });
      d.attachIoasid(fd.alloc({ protocol: 'map' }));
    }
    const req = (rid: number): DmaRequest => ({ rid, pasid: -1, iovaFrame: 0x12345, write: true, privileged: false, translated: true });
    expect(m.driver.unit.translate!(req(0x08))).toBe(0x12345);
    expect(faultOf(m.driver.unit.translate!(req(0x10))).name).toBe('SM_DTE_ABS');
  });
});
