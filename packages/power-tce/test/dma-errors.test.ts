import { describe, expect, it } from 'vitest';
import { DmaFault, type DmaRequest, type FaultRecord } from '@ioasid/core';
import { PHB_DMA_ERROR, PHB_DMA_ERROR_EXPLAIN, Phb4, Phb4Firmware, encodeRealModeTve, type PhbDmaErrorName } from '../src/index.js';
import { DDW, bytes, newHost, powerMachine, writeBe64 } from './helpers.js';

/** Issue 17 item 8: every PHB error name has a one-line meaning, and every record carries it. */

const PE = 7;
const RID = 0x0108;

function req(iova: bigint, write = false, rid = RID, pasid = -1): DmaRequest {
  return { rid, pasid, iovaFrame: Number(iova >> 12n), write, privileged: false };
}

describe('PHB_DMA_ERROR_EXPLAIN', () => {
  it('every error name has a non-empty one-line explanation, and nothing else does', () => {
    expect(Object.keys(PHB_DMA_ERROR_EXPLAIN).sort()).toEqual(Object.keys(PHB_DMA_ERROR).sort());
    for (const text of Object.values(PHB_DMA_ERROR_EXPLAIN)) {
      expect(text.trim().length).toBeGreaterThan(20);
      expect(text).not.toMatch(/\n/);
    }
  });

  it('the PHB sets record.explain on every record it produces, one per error name', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(PE, RID, true);
    const table = host.allocFrames(2, 2) * 4096;
    fw.mapPeDmaWindow(PE, PE * 2, 1, BigInt(table), 0x2000n, 0x1000n);
    writeBe64(host, table, 0x5000001n); // page 0: read only
    fw.mapPeDmaWindowReal(PE, PE * 2 + 1, DDW, 1n << 24n);
    const seen = new Map<PhbDmaErrorName, FaultRecord>();
    const probe = (r: DmaRequest) => {
      const out = phb.translate(r);
      if (typeof out === 'number') throw new Error('expected a fault');
      seen.set(out.name as PhbDmaErrorName, out);
      if (out.name !== 'PE_FROZEN') fw.eehFreezeClear(PE);
    };
    probe(req(0n, false, 0x200)); // NO_PE: RID on the reserved PE
    probe(req(0n, false, RID, 3)); // NO_PE: PASID prefix
    probe({ ...req(0n), translated: true }); // TRANSLATED_REQUEST: PHB4 has no ATS
    probe(req(0x400000n)); // OUT_OF_WINDOW: past the 4 MiB window
    probe(req(DDW + (1n << 24n))); // OUT_OF_WINDOW: outside the real-mode range
    probe(req(0x1000n)); // TCE_INVALID
    probe(req(0n, true)); // PERMISSION
    phb.translate(req(0n, true)); // PERMISSION again, and this time the PE stays frozen
    probe(req(0n)); // PE_FROZEN
    fw.eehFreezeClear(PE);
    fw.mapPeDmaWindow(PE, PE * 2, 0, 0n, 0n, 0n);
    probe(req(0n)); // TVE_INVALID
    expect([...seen.keys()].sort()).toEqual(Object.keys(PHB_DMA_ERROR).sort());
    for (const [name, rec] of seen) expect(rec.explain).toBe(PHB_DMA_ERROR_EXPLAIN[name]);
    expect(encodeRealModeTve(0n, 1n << 24n)).toBe(phb.tveRaw(PE * 2 + 1));
  });

  it('a DmaFault raised through the bus carries the explanation in its message', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    const id = fd.alloc({ protocol: 'map', window: { pageSize: 4096n, size: 1n << 32n } });
    dev.attachIoasid(id);
    try {
      dev.dmaWrite(0x1000n, bytes(1));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DmaFault);
      const f = e as DmaFault;
      expect(f.record).toMatchObject({ name: 'TVE_INVALID', explain: PHB_DMA_ERROR_EXPLAIN.TVE_INVALID });
      expect(f.message).toContain(PHB_DMA_ERROR_EXPLAIN.TVE_INVALID);
    }
  });
});
