import type { FaultDescription } from '@ioasid/core';

/**
 * DMA error records of the PHB model. The names are fixed; the codes are this model's
 * own numbering (PHB4 reports these conditions through its error status registers and the PEST,
 * not as one code), documented here:
 *
 * | code | name          | condition                                                                |
 * |------|---------------|--------------------------------------------------------------------------|
 * | 1    | NO_PE         | RTT BAR disabled, or the RID's RTT entry holds the reserved or an out-of-range PE#, or the request carries a PASID |
 * | 2    | TVE_INVALID   | the selected TVE has TCE_TABLE_SIZE 0 or more than 5 levels              |
 * | 3    | OUT_OF_WINDOW | bus address bits 63:60 set, the offset is beyond the TVE's window, or outside the range of a 50-bit non-translate TVE |
 * | 4    | TCE_INVALID   | an indirect or leaf TCE has neither TCE_PCI_READ nor TCE_PCI_WRITE       |
 * | 5    | PERMISSION    | the leaf TCE lacks READ (for a DMA read) or WRITE (for a DMA write)      |
 * | 6    | PE_FROZEN     | the PE is frozen (PESTB DMA_STOPPED) after an earlier error (EEH)        |
 * | 7    | TRANSLATED_REQUEST | an ATS-translated request (PCIe AT = translated): PHB4 has no ATS   |
 *
 * Every error on a known PE freezes it (EEH freeze-all: PESTA MMIO_FROZEN, PESTB DMA_STOPPED and
 * the PE's bit in the PEEV). NO_PE and TRANSLATED_REQUEST name no PE and freeze nothing.
 */
export const PHB_DMA_ERROR = {
  NO_PE: 1,
  TVE_INVALID: 2,
  OUT_OF_WINDOW: 3,
  TCE_INVALID: 4,
  PERMISSION: 5,
  PE_FROZEN: 6,
  TRANSLATED_REQUEST: 7,
} as const;

export type PhbDmaErrorName = keyof typeof PHB_DMA_ERROR;

/** What each error means, one line each; the PHB puts it in every fault record (`explain`). */
export const PHB_DMA_ERROR_EXPLAIN: Readonly<Record<PhbDmaErrorName, string>> = {
  NO_PE: 'the requester ID leads to no usable partitionable endpoint (RTT off, reserved or out-of-range PE#, or a PASID-prefixed request)',
  TVE_INVALID: 'the PE has no valid TVE for this half of the bus space (bus address bit 59 picks the TVE): no DMA window is there',
  OUT_OF_WINDOW: 'the bus address is past the reach of the PE\'s DMA window, outside its real-mode range, or has bits 63:60 set (not DMA)',
  TCE_INVALID: 'the TCE for this IO page, or an indirect TCE above it, has neither read nor write set: the page is not mapped',
  PERMISSION: 'the TCE maps the page, but not for this direction (read needs TCE_PCI_READ, write needs TCE_PCI_WRITE)',
  PE_FROZEN: 'an earlier error froze the PE (EEH): all its DMA is stopped until firmware clears the freeze',
  TRANSLATED_REQUEST: 'the request is ATS-translated (PCIe AT = translated), and PHB4 implements no ATS: it takes no address a device translated itself',
};

/**
 * The fault catalogue of the vendor registration (`ioasid info --faults`): every error name with
 * the code its records carry (this model's numbering above: PHB4 has no code of its own per
 * condition) and its explanation.
 */
export const PHB_DMA_FAULTS: readonly FaultDescription[] = (Object.keys(PHB_DMA_ERROR) as PhbDmaErrorName[]).map((name) => ({
  code: PHB_DMA_ERROR[name],
  name,
  explain: PHB_DMA_ERROR_EXPLAIN[name],
}));
