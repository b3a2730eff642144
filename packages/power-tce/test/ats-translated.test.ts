/**
 * PCIe AT = translated (core DmaRequest.translated). PHB4 has no ATS: skiboot's PHB4 code has no
 * ATS setting (ATS exists only in its NPU2 code), QEMU's PHB4 gives devices an IOMMU address
 * space and no ATS translation path, Linux PowerNV never enables ATS (GET_INFO ats: false). So
 * the PHB refuses every translated request, whatever address it carries.
 */
import { describe, expect, it } from 'vitest';
import { PHB_DMA_ERROR, PHB_DMA_ERROR_EXPLAIN, Phb4, Phb4Firmware } from '../src/index.js';
import { DDW, newHost, powerMachine, writeBe64 } from './helpers.js';
import { readsOf, req, walkOf } from './walk-support.js';

describe('ATS-translated requests', () => {
  it('are refused with TRANSLATED_REQUEST before the RTT is read, even at an address the TCEs map, and freeze nothing', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(7, 0x108, true);
    const table = host.allocFrames(2, 2) * 4096;
    fw.mapPeDmaWindow(7, 14, 1, BigInt(table), 0x2000n, 0x1000n);
    writeBe64(host, table + 8, (0x4321n << 12n) | 3n);
    fw.mapPeDmaWindowReal(7, 15, DDW, 1n << 24n);
    const regs = phb.registers();
    for (const iova of [0x1000n, 0x4321000n, DDW + 0x1000n, 1n << 60n]) {
      for (const write of [false, true]) {
        const r = req(0x108, iova, write, { translated: true });
        const rec = phb.translate(r);
        expect(rec).toEqual({
          rid: 0x108,
          iova,
          write,
          translated: true,
          code: PHB_DMA_ERROR.TRANSLATED_REQUEST,
          name: 'TRANSLATED_REQUEST',
          explain: PHB_DMA_ERROR_EXPLAIN.TRANSLATED_REQUEST,
          detail: 'PHB4 has no ATS: it takes no ATS-translated request',
        });
        const { result, trace } = walkOf(phb, r, true);
        expect(result).toEqual(rec);
        expect(readsOf(trace)).toEqual([]);
      }
    }
    expect(phb.registers()).toEqual(regs);
    expect(phb.rtc.size).toBe(0);
    // The same request untranslated goes through the TCE.
    expect(phb.translate(req(0x108, 0x1000n))).toBe(0x4321);
  });

  it('GET_INFO says the PHB offers no ATS', () => {
    const { m } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    expect(dev.getInfo().ats).toBe(false);
  });
});
