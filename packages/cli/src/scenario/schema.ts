import { z } from 'zod';
import { Errno } from '@ioasid/core';

/**
 * The scenario file format (documented in scenarios/README.md). Numbers stay unresolved here
 * (an integer, a size string like "2M", or a $reference); the runner resolves them per vendor.
 */

/** `$name`, `$name.path.0.field`, optionally `+ <number>`. */
export const REF = /^\$([A-Za-z_][\w-]*)((?:\.[\w-]+)*)(?:\s*\+\s*(\S+))?$/;
/** 4096, 0x1000, 0o17, 4K, 2M, 1G, 2T (binary units). */
export const NUMBER = /^(?:0x[0-9a-fA-F_]+|0o[0-7_]+|\d[\d_]*(?:[KMGT])?)$/;
/** "de ad be ef" or "deadbeef". */
export const HEX_BYTES = /^(?:[0-9a-fA-F]{2}\s*)*$/;

// Patterns rather than refinements, so that the JSON Schema made from this one keeps them.
const NUMBER_OR_REF = new RegExp(`${NUMBER.source}|${REF.source}`);
const BYTES_OR_REF = new RegExp(`${HEX_BYTES.source}|${REF.source}`);

export const Num = z.union(
  [
    z.bigint(),
    z.number().int(),
    z.string().regex(NUMBER_OR_REF, { error: 'expected an integer (4096, 0x1000, 2M) or a $reference' }),
  ],
  { error: 'expected an integer (4096, 0x1000, 2M) or a $reference' },
);

export const Ref = z.string().regex(REF, { error: 'expected a $reference to an earlier result (e.g. $gpa)' });

export const Name = z.string().regex(/^[A-Za-z_][\w-]*$/, { error: 'expected a name (letters, digits, _ and -; no $)' });

export const ErrnoName = z.enum(Object.keys(Errno) as [keyof typeof Errno, ...(keyof typeof Errno)[]], {
  error: `expected an errno name (${Object.keys(Errno).join(', ')})`,
});

export const Bytes = z.union(
  [
    z.string().regex(BYTES_OR_REF, { error: 'expected hex bytes like "de ad be ef" or a $reference' }),
    z.strictObject({ text: z.string() }),
    z.strictObject({ fill: Num, length: Num }),
  ],
  { error: 'expected hex bytes ("de ad be ef"), { text: "..." } or { fill: 0xab, length: 16 }' },
);

/**
 * A bindable format as GET_INFO lists it, a $reference to one (e.g. $info.formats.0), or one
 * with parameters changed: `{ base: $info.pasidTableFormats.0, s1cdmax: 4 }`.
 */
export const Format = z.union([Ref, z.looseObject({ kind: z.string() }), z.looseObject({ base: Ref })], {
  error: 'expected a format object with a kind, a $reference such as $info.formats.0, or { base: $ref, <param>: value }',
});

const Device = z.string().min(1);
const Ioasid = Num;
const Prot = { read: z.boolean().optional(), write: z.boolean().optional() };

/** Which DMA fault is expected: any (true), one name, one of several names, or a name per vendor. */
export const FaultExpect = z.union(
  [z.literal(true), z.string(), z.array(z.string()).min(1), z.record(z.string(), z.union([z.string(), z.array(z.string())]))],
  { error: 'expected true (any fault), a fault name, a list of names, or names per vendor ({ intel-vtd: ..., arm-smmuv3: ... })' },
);

const Options = z.record(z.string(), z.unknown());

export const OPS = {
  bind: z.strictObject({ device: Device, label: z.string().optional() }),
  unbind: z.strictObject({ device: Device }),
  'check-extension': z.strictObject({ extension: z.string(), expect: z.union([z.literal(0), z.literal(1), z.literal(0n), z.literal(1n)]).optional() }),
  register: z.strictObject({ vaddr: Num, size: Num }),
  unregister: z.strictObject({ vaddr: Num, size: Num }),
  mmap: z.strictObject({ size: Num, hugePages: z.enum(['2M', '1G']).optional() }),
  alloc: z.strictObject({
    protocol: z.literal('map').optional(),
    window: z.strictObject({ pageSize: Num, size: Num, levels: Num.optional() }).optional(),
    options: Options.optional(),
  }),
  nest: z.strictObject({ parent: Ioasid, protocol: z.enum(['map', 'user-pgtable', 'user-pasid-table']), options: Options.optional() }),
  attach: z.strictObject({ device: Device, ioasid: Ioasid, userPasid: Num.optional() }),
  detach: z.strictObject({ device: Device, ioasid: Ioasid, userPasid: Num.optional() }),
  info: z.strictObject({
    ioasid: Ioasid.optional(),
    device: Device.optional(),
    /** Fields that must hold, or the step fails. */
    matches: z.record(z.string(), z.unknown()).optional(),
    /** Fields the rest of the scenario needs: if one does not hold, the scenario is unsupported here. */
    requires: z.record(z.string(), z.unknown()).optional(),
  }),
  map: z.strictObject({ ioasid: Ioasid, iova: Num, size: Num, vaddr: Num.optional(), hugePages: z.enum(['2M', '1G']).optional(), ...Prot }),
  unmap: z.strictObject({ ioasid: Ioasid, iova: Num.optional(), size: Num.optional(), all: z.boolean().optional(), bytes: Num.optional() }),
  'guest-alloc': z.strictObject({ size: Num, align: Num.optional() }),
  'guest-write': z.strictObject({ gpa: Num, bytes: Bytes }),
  'guest-read': z.strictObject({ gpa: Num, expect: Bytes, length: Num.optional() }),
  'vmm-write': z.strictObject({ vaddr: Num, bytes: Bytes }),
  'vmm-read': z.strictObject({ vaddr: Num, expect: Bytes, length: Num.optional() }),
  'guest-pgtable': z.strictObject({
    table: Ref.optional(),
    format: Format.optional(),
    map: z.array(z.strictObject({ gva: Num, gpa: Num, size: Num, ...Prot })).optional(),
    unmap: z.array(z.strictObject({ gva: Num, size: Num })).optional(),
  }),
  'guest-pasid-table': z.strictObject({
    format: Format,
    entries: z.array(z.strictObject({ pasid: Num, table: Ref, asid: Num.optional() })),
  }),
  'guest-pasid-entry': z.strictObject({ table: Ref, pasid: Num, pgtable: Ref.optional(), asid: Num.optional() }),
  'bind-pgtable': z.strictObject({ ioasid: Ioasid, table: Ref.optional(), addr: Num.optional(), format: Format.optional() }),
  'bind-pasid-table': z.strictObject({ ioasid: Ioasid, table: Ref.optional(), addr: Num.optional(), format: Format.optional() }),
  invalidate: z.strictObject({ ioasid: Ioasid, all: z.boolean().optional(), iova: Num.optional(), size: Num.optional(), pasid: Num.optional() }),
  'set-dirty-tracking': z.strictObject({ ioasid: Ioasid, enable: z.boolean() }),
  'get-dirty-bitmap': z.strictObject({ ioasid: Ioasid, iova: Num, size: Num, pageSize: Num.optional(), noClear: z.boolean().optional(), expect: z.array(Num).optional() }),
  'dma-write': z.strictObject({ device: Device, iova: Num, bytes: Bytes, pasid: Num.optional(), privileged: z.boolean().optional(), fault: FaultExpect.optional() }),
  'dma-read': z.strictObject({
    device: Device,
    iova: Num,
    length: Num.optional(),
    expect: Bytes.optional(),
    pasid: Num.optional(),
    privileged: z.boolean().optional(),
    fault: FaultExpect.optional(),
  }),
  reset: z.strictObject({ device: Device }),
  'read-faults': z.strictObject({ ioasid: Ioasid, count: Num.optional() }),
  'page-response': z.strictObject({ ioasid: Ioasid, id: Num, code: z.enum(['success', 'invalid', 'failure']) }),
  'kvm-map-pasid': z.strictObject({ guestPasid: Num, ioasid: Ioasid }),
  'kvm-unmap-pasid': z.strictObject({ guestPasid: Num }),
  enqcmd: z.strictObject({ device: Device, guestPasid: Num, iova: Num, bytes: Bytes, fault: FaultExpect.optional() }),
  lookup: z.strictObject({ ioasid: Ioasid, iova: Num, pasid: Num.optional(), output: Num.optional() }),
  free: z.strictObject({ ioasid: Ioasid }),
  close: z.union([z.null(), z.strictObject({})]),
} as const;

export type OpName = keyof typeof OPS;
export const OP_NAMES = Object.keys(OPS) as OpName[];

const COMMON = {
  /** The step must fail with this errno. */
  expect: ErrnoName.optional(),
  /** The uAPI lets a vendor refuse the step with this errno: then the scenario is unsupported there. */
  refusable: ErrnoName.optional(),
  /** Name under which the step's result is kept ($name). */
  as: Name.optional(),
  /** A note printed with the step. */
  title: z.string().optional(),
  /** Run this step only on these vendors (elsewhere: skipped). */
  vendors: z.array(z.string()).min(1).optional(),
};

const opShape = Object.fromEntries(OP_NAMES.map((k) => [k, OPS[k].optional()])) as { [K in OpName]: z.ZodOptional<(typeof OPS)[K]> };

export const Step = z.strictObject({ ...opShape, ...COMMON }).superRefine((s, ctx) => {
  const ops = OP_NAMES.filter((k) => k in s);
  if (ops.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message:
        ops.length === 0
          ? `expected a step: one of ${OP_NAMES.join(', ')}`
          : `expected exactly one operation per step, found ${ops.join(' and ')}`,
    });
  }
});

export type StepSpec = z.infer<typeof Step>;

const DeviceOptions = z.strictObject({
  name: z.string().min(1),
  rid: Num.optional(),
  kind: z.enum(['pdev', 'mdev']).optional(),
  parent: z.string().optional(),
  group: Num.optional(),
  ats: z.boolean().optional(),
  pri: z.boolean().optional(),
  enqcmd: z.boolean().optional(),
});

export const Machine = z.strictObject({
  devices: z.array(DeviceOptions).min(1).optional(),
  /** Host physical memory in bytes (default 64 GiB). */
  hostMemory: Num.optional(),
  guestMemory: Num.optional(),
  guestHugePages: z.boolean().optional(),
  /** Vendor options for every vendor. */
  options: Options.optional(),
  /** Vendor options per vendor name. */
  vendorOptions: z.record(z.string(), Options).optional(),
});

export const Scenario = z.strictObject({
  title: z.string(),
  flow: z.string().optional(),
  description: z.string().optional(),
  /** Vendors the scenario is meant for (default: every registered vendor). */
  vendors: z.array(z.string()).min(1).optional(),
  machine: Machine.optional(),
  steps: z.array(Step).min(1),
});

export type ScenarioSpec = z.infer<typeof Scenario>;
