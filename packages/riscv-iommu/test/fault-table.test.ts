/**
 * Every CAUSE of spec §3.2 table 11 is either reached here by a request the unit really blocks,
 * with the record it writes, or listed as not modelled (with the reason).
 */
import { describe, expect, it } from 'vitest';
import { PROT_READ, RadixPageTable, contiguousRuns, type FaultRecord } from '@ioasid/core';
import { CAUSE, FAULT_CATALOGUE, decodeFaultRecord, encodeDdtp, svFormat, type CauseName } from '../src/index.js';
import { Harness } from './hw-harness.js';

const FAR = 2 ** 40; // a page number far above the harness's 512 MiB

const REACHED: Record<string, (h: Harness) => FaultRecord> = {
  READ_ACCESS_FAULT: (h) => {
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 1, PPN: FAR } });
    return h.dma(8, 0n) as FaultRecord;
  },
  WRITE_ACCESS_FAULT: (h) => {
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 1, PPN: FAR } });
    return h.dma(8, 0n, { write: true }) as FaultRecord;
  },
  READ_PAGE_FAULT: (h) => {
    const s1 = RadixPageTable.create(h.mem, svFormat(39));
    h.setDc(8, { fsc: { MODE: 8, PPN: s1.root } });
    return h.dma(8, 0x1000n) as FaultRecord;
  },
  WRITE_PAGE_FAULT: (h) => {
    const s1 = RadixPageTable.create(h.mem, svFormat(39));
    s1.map(1, 1, contiguousRuns(h.frame(), 1), PROT_READ);
    h.setDc(8, { fsc: { MODE: 8, PPN: s1.root } });
    return h.dma(8, 0x1000n, { write: true }) as FaultRecord;
  },
  READ_GUEST_PAGE_FAULT: (h) => {
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 1, PPN: h.gstage(0, h.frame(), 1).root } });
    return h.dma(8, 0x5000n) as FaultRecord;
  },
  WRITE_GUEST_PAGE_FAULT: (h) => {
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 1, PPN: h.gstage(0, h.frame(), 1, PROT_READ).root } });
    return h.dma(8, 0n, { write: true }) as FaultRecord;
  },
  DMA_DISABLED: (h) => {
    h.unit.write('ddtp', 0n);
    return h.dma(8, 0n) as FaultRecord;
  },
  DDT_LOAD_FAULT: (h) => {
    h.unit.write('ddtp', encodeDdtp('1LVL', FAR));
    return h.dma(8, 0n) as FaultRecord;
  },
  DDT_INVALID: (h) => h.dma(8, 0n) as FaultRecord,
  DDT_MISCONFIGURED: (h) => {
    h.setDc(8, { tc: { DPE: true } }); // DPE without PDTV
    return h.dma(8, 0n) as FaultRecord;
  },
  TTYP_BLOCKED: (h) => {
    h.setDc(8, {});
    return h.dma(8, 0n, { pasid: 1 }) as FaultRecord; // PASID without a PDT
  },
  PDT_LOAD_FAULT: (h) => {
    h.setDc(8, { tc: { PDTV: true }, fsc: { MODE: 1, PPN: FAR } });
    return h.dma(8, 0n, { pasid: 1 }) as FaultRecord;
  },
  PDT_INVALID: (h) => {
    h.setDc(8, { tc: { PDTV: true }, fsc: { MODE: 1, PPN: h.frame() } });
    return h.dma(8, 0n, { pasid: 1 }) as FaultRecord;
  },
  PDT_MISCONFIGURED: (h) => {
    const pdt = h.frame();
    h.setDc(8, { tc: { PDTV: true }, fsc: { MODE: 1, PPN: pdt } });
    h.setPc(pdt, 1, { V: true, ENS: false, SUM: false, PSCID: 0, fsc: { MODE: 5, PPN: 0 } }); // reserved iosatp mode
    return h.dma(8, 0n, { pasid: 1 }) as FaultRecord;
  },
};

/** Causes this model cannot produce, and why. */
const NOT_MODELLED: Partial<Record<CauseName, string>> = {
  INST_ACCESS_FAULT: 'devices make no read-for-execute requests in this model',
  INST_PAGE_FAULT: 'no read-for-execute requests',
  INST_GUEST_PAGE_FAULT: 'no read-for-execute requests',
  READ_ADDR_MISALIGNED: 'DMA is per page; no misaligned atomics',
  WRITE_ADDR_MISALIGNED: 'DMA is per page; no misaligned atomics',
  MSI_LOAD_FAULT: 'no MSI page tables (capabilities.MSI_FLAT = 0)',
  MSI_INVALID: 'no MSI page tables',
  MSI_MISCONFIGURED: 'no MSI page tables',
  MRIF_FAULT: 'no MRIFs (capabilities.MSI_MRIF = 0)',
  DDT_CORRUPTED: 'memory is never poisoned',
  PDT_CORRUPTED: 'memory is never poisoned',
  MSI_PT_CORRUPTED: 'memory is never poisoned',
  MRIF_CORRUPTED: 'memory is never poisoned',
  INTERNAL_DP_ERROR: 'no internal errors',
  MSI_WRITE_FAULT: 'the unit signals no interrupts by MSI writes in this model',
  PT_CORRUPTED: 'memory is never poisoned',
};

describe('CAUSE table — spec §3.2 table 11', () => {
  it('every cause is reached or documented as not modelled', () => {
    for (const f of FAULT_CATALOGUE) expect(f.name in REACHED || f.name in NOT_MODELLED, f.name).toBe(true);
  });

  it.each(Object.keys(REACHED))('%s: the DmaFault record and the fault-queue record agree', (name) => {
    const h = new Harness();
    const r = REACHED[name](h);
    expect(r.name).toBe(name);
    expect(r.code).toBe(CAUSE[name as CauseName]);
    const q = [0, 1, 2, 3].map((i) => h.mem.u64(h.fq * 4096 + 8 * i));
    expect(decodeFaultRecord(q).cause).toBe(r.code);
    expect(h.unit.read('fqt')).toBe(1n);
  });
});
