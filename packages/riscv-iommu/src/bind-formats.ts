import { fail, type PgtableFormat } from '@ioasid/core';
import type { PdMode, SvMode } from './tables/atp.js';

/** BIND_PGTABLE of a guest first-stage table: `{ kind: 'riscv-sv', mode: 39 | 48 | 57 }`. */
export const RISCV_SV = 'riscv-sv';
/** BIND_PASID_TABLE of a guest PDT: `{ kind: 'riscv-pdt', mode: 'PD8' | 'PD17' | 'PD20' }`. */
export const RISCV_PDT = 'riscv-pdt';

function onlyKeys(format: PgtableFormat, keys: string[]): void {
  const extra = Object.keys(format).filter((k) => !keys.includes(k));
  if (extra.length > 0) fail('EINVAL', `${format.kind} has no parameter ${extra.join(', ')}`);
}

/** Checks a first-stage format against the modes the unit offers; returns the mode. */
export function checkSvFormat(format: PgtableFormat, modes: readonly SvMode[]): SvMode {
  if (typeof format !== 'object' || format === null || format.kind !== RISCV_SV) fail('EINVAL', `riscv-iommu binds '${RISCV_SV}' page tables (got '${String((format as PgtableFormat | null)?.kind)}')`);
  onlyKeys(format, ['kind', 'mode']);
  const mode = format.mode as SvMode;
  if (!modes.includes(mode)) fail('EINVAL', `${RISCV_SV}.mode must be one of ${modes.join(', ')} (capabilities) (got ${String(format.mode)})`);
  return mode;
}

/** Checks a PDT format against the modes the unit offers; returns the mode. */
export function checkPdtFormat(format: PgtableFormat, modes: readonly PdMode[]): PdMode {
  if (typeof format !== 'object' || format === null || format.kind !== RISCV_PDT) fail('EINVAL', `riscv-iommu binds '${RISCV_PDT}' PASID tables (got '${String((format as PgtableFormat | null)?.kind)}')`);
  onlyKeys(format, ['kind', 'mode']);
  const mode = format.mode as PdMode;
  if (!modes.includes(mode)) fail('EINVAL', `${RISCV_PDT}.mode must be one of ${modes.join(', ')} (capabilities) (got ${String(format.mode)})`);
  return mode;
}

export const ALL_SV: readonly SvMode[] = [39, 48, 57];
export const ALL_PD: readonly PdMode[] = ['PD8', 'PD17', 'PD20'];
