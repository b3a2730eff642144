import { fail } from '@ioasid/core';
import { GRANULES, MAX_IAS, MIN_IAS, type Granule } from './formats/lpae-geometry.js';
import type { CdLayout } from './tables/cd-table.js';

// The formats: `{ kind: 'arm-lpae-s1', granule, ias }` for the guest stage 1 tables a guest CD
// points at (GET_INFO formats, the guest helpers) and `{ kind: 'arm-smmuv3-cd', layout, s1cdmax }`
// for BIND_PASID_TABLE. A format is checked whole — its kind, every parameter present and within
// what GET_INFO reports, no other key — before anything is bound; each refusal is EINVAL naming
// the parameter.

export const S1_FORMAT_KIND = 'arm-lpae-s1';
export const CD_FORMAT_KIND = 'arm-smmuv3-cd';
const S1_KEYS = ['kind', 'granule', 'ias'] as const;
const CD_KEYS = ['kind', 'layout', 's1cdmax'] as const;

function formatOf(format: unknown, kind: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof format !== 'object' || format === null || Array.isArray(format)) {
    fail('EINVAL', `format must be an object { ${keys.join(', ')} } (got ${format === null ? 'null' : typeof format})`);
  }
  const f = format as Record<string, unknown>;
  if (f.kind !== kind) fail('EINVAL', `format.kind must be '${kind}' (got ${String(f.kind)})`);
  for (const k of Object.keys(f)) {
    if (!keys.includes(k)) fail('EINVAL', `format.${k} is not a parameter of '${kind}' (it takes ${keys.join(', ')})`);
  }
  for (const k of keys) if (f[k] === undefined) fail('EINVAL', `format.${k} is missing (GET_INFO lists it for '${kind}')`);
  return f;
}

function intIn(f: Record<string, unknown>, key: string, lo: number, hi: number, why: string): number {
  const v = f[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    fail('EINVAL', `format.${key} ${String(v)} must be an integer in ${lo}..${hi} (${why})`);
  }
  return v;
}

/** A stage 1 format: `granules` and `maxIas` as GET_INFO reports them (IDR5 granules, the IAS). */
export function checkS1Format(format: unknown, granules: readonly Granule[], maxIas: number): { granule: Granule; ias: number } {
  const f = formatOf(format, S1_FORMAT_KIND, S1_KEYS);
  const granule = f.granule as Granule;
  if (!granules.includes(granule)) {
    fail('EINVAL', `format.granule ${String(f.granule)} is not a granule SMMU_IDR5 offers (${granules.join(', ')})`);
  }
  const ias = intIn(f, 'ias', MIN_IAS, Math.min(MAX_IAS, maxIas), 'T0SZ 16..39, at most the input size GET_INFO reports');
  return { granule, ias };
}

/** A CD table format: two-level only with SMMU_IDR0.CD2L; S1CDMax up to what GET_INFO lists for the layout. */
export function checkCdFormat(format: unknown, limits: { cd2l: boolean; linearMax: number; twoLevelMax: number }): { layout: CdLayout; s1cdmax: number } {
  const f = formatOf(format, CD_FORMAT_KIND, CD_KEYS);
  const layout = f.layout;
  if (layout !== 'linear' && layout !== 'two-level') fail('EINVAL', `format.layout must be 'linear' or 'two-level' (got ${String(layout)})`);
  if (layout === 'two-level' && !limits.cd2l) fail('EINVAL', 'format.layout two-level is not supported (SMMU_IDR0.CD2L is 0)');
  const max = layout === 'linear' ? limits.linearMax : limits.twoLevelMax;
  const s1cdmax = intIn(f, 's1cdmax', 0, max, `at most the largest S1CDMax GET_INFO lists for this unit`);
  return { layout, s1cdmax };
}

/** The architectural limits, for the guest side (which builds what a guest kernel would, on any unit). */
export const ANY_UNIT = { granules: GRANULES, ias: MAX_IAS, cd: { cd2l: true, linearMax: 20, twoLevelMax: 20 } } as const;
