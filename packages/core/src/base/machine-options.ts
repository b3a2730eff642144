import type { DependencyContainer } from '../di.js';

/** One device of a machine, as `createMachine({ devices })` describes it. */
export interface DeviceOptions {
  name: string;
  rid?: number;
  kind?: 'pdev' | 'mdev';
  /** For an mdev: the name of the pdev whose RID it rides on. */
  parent?: string;
  group?: number;
  ats?: boolean;
  pri?: boolean;
  enqcmd?: boolean;
}

/**
 * The machine options vendors add, one property per option key. Empty in core: a vendor package
 * declares its keys here by module augmentation, beside the same list in its registration's
 * `machineOptions` (which is what `createMachine` checks at run time):
 *
 * ```ts
 * declare module '@ioasid/core' {
 *   interface VendorMachineOptions {
 *     myUnitQueueDepth?: number;
 *   }
 * }
 * ```
 */
export interface VendorMachineOptions {}

/** What `createMachine` takes: core's options and those of the vendors loaded. */
export interface MachineOptions extends VendorMachineOptions {
  vendor: string;
  devices?: DeviceOptions[];
  /**
   * Host physical memory in bytes (default DEFAULT_HOST_MEMORY, 64 GiB; a multiple of 2 MiB in
   * [64 MiB, 2^46]). Kernel structures, VMM pages and huge-page reservations all come from it.
   */
  hostMemory?: bigint;
  /** Guest RAM size in bytes (default 1 GiB). */
  guestMemory?: bigint;
  /** Back guest RAM with huge pages (default true). */
  guestHugePages?: boolean;
  /** Locked-memory limit per fd in bytes (RLIMIT_MEMLOCK; default 1 TiB). */
  memlockLimit?: bigint;
  /** Container to find the vendor in (default: the root container). */
  container?: DependencyContainer;
}

/** The option keys core itself reads; a vendor may not declare one of these. */
export const CORE_MACHINE_OPTIONS = ['vendor', 'devices', 'hostMemory', 'guestMemory', 'guestHugePages', 'memlockLimit', 'container'] as const;

/** Every key a DeviceOptions may have. */
export const DEVICE_OPTIONS = ['name', 'rid', 'kind', 'parent', 'group', 'ats', 'pri', 'enqcmd'] as const;

// Both lists name exactly the declared keys (a compile error here when they drift apart).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const coreListed: Same<(typeof CORE_MACHINE_OPTIONS)[number], Exclude<keyof MachineOptions, keyof VendorMachineOptions>> = true;
const devicesListed: Same<(typeof DEVICE_OPTIONS)[number], keyof DeviceOptions> = true;
void coreListed;
void devicesListed;
