import { fail } from '@ioasid/core';
import type { SvMode } from './tables/atp.js';
import { encodeCapabilities, type Capabilities } from './hw/registers.js';

/**
 * `createMachine({ vendor: 'riscv-iommu', riscv: { … } })`: which capabilities the unit has.
 * Every feature is on by default.
 */
export interface RiscvOptions {
  /** First-stage modes (capabilities.Sv39/48/57). Default all three; [] = no first stage (no nesting). */
  sv?: SvMode[];
  /** G-stage modes (capabilities.Sv39x4/48x4/57x4). Default all three; at least one. */
  svx4?: SvMode[];
  /** PDT modes (capabilities.PD8/PD17/PD20). Default all three; [] = no PASIDs. */
  pd?: ('PD8' | 'PD17' | 'PD20')[];
  /** capabilities.ATS (ATS, PRI and page requests). Default true. */
  ats?: boolean;
  /** capabilities.AMO_HWAD (A/D updating by the unit). Default true. */
  amoHwad?: boolean;
  /** capabilities.MSI_FLAT: extended-format (64-byte) device contexts. Default false. */
  msiFlat?: boolean;
  /** DDT levels the driver uses (ddtp.iommu_mode 1LVL/2LVL/3LVL). Default 3, as Linux picks the deepest. */
  ddtLevels?: 1 | 2 | 3;
  /** The G-stage mode of kernel-managed IOASIDs. Default: the widest the unit has (Linux picks the widest mode too). */
  gstage?: SvMode;
}

const KEYS = ['sv', 'svx4', 'pd', 'ats', 'amoHwad', 'msiFlat', 'ddtLevels', 'gstage'];

function modes<T>(name: string, v: unknown, all: readonly T[], atLeastOne: boolean): T[] {
  if (v === undefined) return [...all];
  if (!Array.isArray(v) || v.some((m) => !all.includes(m as T))) fail('EINVAL', `riscv.${name} must be a list of ${all.join(', ')}`);
  if (atLeastOne && v.length === 0) fail('EINVAL', `riscv.${name} needs at least one mode`);
  return v as T[];
}

function bool(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail('EINVAL', `riscv.${name} must be a boolean`);
  return v;
}

export interface ResolvedOptions {
  capabilities: bigint;
  caps: Capabilities;
  ddtLevels: 1 | 2 | 3;
  gstage: SvMode;
}

export function resolveOptions(raw: unknown): ResolvedOptions {
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o)) fail('EINVAL', 'riscv must be an object of RiscvOptions');
  const extra = Object.keys(o).filter((k) => !KEYS.includes(k));
  if (extra.length) fail('EINVAL', `riscv has no option ${extra.join(', ')}`);
  const sv = modes<SvMode>('sv', o.sv, [39, 48, 57], false);
  const svx4 = modes<SvMode>('svx4', o.svx4, [39, 48, 57], true);
  const pd = modes<'PD8' | 'PD17' | 'PD20'>('pd', o.pd, ['PD8', 'PD17', 'PD20'], false);
  const ddtLevels = (o.ddtLevels ?? 3) as 1 | 2 | 3;
  if (![1, 2, 3].includes(ddtLevels)) fail('EINVAL', 'riscv.ddtLevels must be 1, 2 or 3');
  const gstage = (o.gstage ?? Math.max(...svx4)) as SvMode;
  if (!svx4.includes(gstage)) fail('EINVAL', `riscv.gstage must be one of the G-stage modes ${svx4.join(', ')}`);
  const caps: Capabilities = {
    sv: { 39: sv.includes(39), 48: sv.includes(48), 57: sv.includes(57) },
    svx4: { 39: svx4.includes(39), 48: svx4.includes(48), 57: svx4.includes(57) },
    msiFlat: bool('msiFlat', o.msiFlat, false),
    amoHwad: bool('amoHwad', o.amoHwad, true),
    ats: bool('ats', o.ats, true),
    t2gpa: false,
    end: false,
    igs: 0,
    pas: 56,
    pd8: pd.includes('PD8'),
    pd17: pd.includes('PD17'),
    pd20: pd.includes('PD20'),
  };
  return { capabilities: encodeCapabilities(caps), caps, ddtLevels, gstage };
}
