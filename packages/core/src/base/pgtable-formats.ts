/**
 * Bindable page-table formats by kind. Core names no vendor format: each vendor package adds
 * its own to PgtableFormatRegistry by module augmentation, the kind as the key and the
 * parameters as the value,
 *
 * ```ts
 * declare module '@ioasid/core' {
 *   interface PgtableFormatRegistry {
 *     'my-iommu-s1': { inputBits: number };
 *   }
 * }
 * ```
 *
 * and RegisteredPgtableFormat is then the discriminated union of `{ kind, ...parameters }` over
 * the formats of the vendors loaded, which `isPgtableFormat` narrows a format to.
 */

/** A format as commands accept and GET_INFO lists it: a kind and its parameters. */
export interface PgtableFormat {
  kind: string;
  [param: string]: unknown;
}

/** Filled in by vendor packages: format kind → its parameters. */
export interface PgtableFormatRegistry {}

/** One registered format kind and its parameters. */
export type PgtableFormatOf<K extends keyof PgtableFormatRegistry> = { kind: K } & PgtableFormatRegistry[K];

/**
 * The union of every registered format (`kind` discriminates), or the loose PgtableFormat when no
 * vendor package loaded has registered one.
 */
export type RegisteredPgtableFormat = [keyof PgtableFormatRegistry] extends [never]
  ? PgtableFormat
  : { [K in keyof PgtableFormatRegistry]: PgtableFormatOf<K> }[keyof PgtableFormatRegistry];

/**
 * Narrows a format (from GET_INFO, or one to pass to BIND_PGTABLE / BIND_PASID_TABLE) to the
 * registered format of `kind`. Only the kind is looked at: the parameters are checked by the
 * vendor when the format is bound.
 */
export function isPgtableFormat<K extends keyof PgtableFormatRegistry>(format: unknown, kind: K): format is PgtableFormatOf<K> {
  return typeof format === 'object' && format !== null && (format as { kind?: unknown }).kind === kind;
}
