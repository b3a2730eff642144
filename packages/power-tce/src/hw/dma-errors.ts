/**
 * DMA error records of the PHB model (DESIGN §9). The names are fixed; the codes are this model's
 * own numbering (PHB4 reports these conditions through its error status registers and the PEST,
 * not as one code), documented here:
 *
 * | code | name          | condition                                                                |
 * |------|---------------|--------------------------------------------------------------------------|
 * | 1    | NO_PE         | RTT BAR disabled, or the RID's RTT entry holds the reserved or an out-of-range PE#, or the request carries a PASID |
 * | 2    | TVE_INVALID   | the selected TVE has TCE_TABLE_SIZE 0, more than 5 levels, or IO_PSIZE 0 |
 * | 3    | OUT_OF_WINDOW | bus address bits 63:60 set, or the offset is beyond the TVE's window      |
 * | 4    | TCE_INVALID   | an indirect or leaf TCE has neither TCE_PCI_READ nor TCE_PCI_WRITE       |
 * | 5    | PERMISSION    | the leaf TCE lacks READ (for a DMA read) or WRITE (for a DMA write)      |
 * | 6    | PE_FROZEN     | the PE is frozen (PESTB DMA_STOPPED) after an earlier error (EEH)        |
 *
 * Every error on a known PE freezes it (EEH freeze-all: PESTA MMIO_FROZEN and PESTB DMA_STOPPED).
 */
export const PHB_DMA_ERROR = {
  NO_PE: 1,
  TVE_INVALID: 2,
  OUT_OF_WINDOW: 3,
  TCE_INVALID: 4,
  PERMISSION: 5,
  PE_FROZEN: 6,
} as const;

export type PhbDmaErrorName = keyof typeof PHB_DMA_ERROR;
