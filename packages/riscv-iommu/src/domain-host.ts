import type { DeviceDesc, IdAllocator, MachineContext } from '@ioasid/core';
import type { CommandQueue } from './cmdq.js';
import type { PdMode, SvMode } from './tables/atp.js';

/**
 * What a domain asks of the driver (driver.ts implements it): the queues and ID spaces, and the
 * routing of devices, which the driver keeps per RID. Domains are passed as plain objects here so
 * that the domain files need not import the driver.
 */
export interface DomainHost {
  readonly ctx: MachineContext;
  readonly cmdq: CommandQueue;
  readonly gscids: IdAllocator;
  readonly pscids: IdAllocator;
  readonly gstageMode: SvMode;
  /** capabilities.AMO_HWAD: DCs get GADE and 'map' tables log writes in their D bits. */
  readonly dirtyLogging: boolean;
  readonly svModes: readonly SvMode[];
  readonly pdModes: readonly PdMode[];
  routeProblem(dom: object, dev: DeviceDesc, pasid: number | undefined, replacing?: object): string | null;
  route(dom: object, dev: DeviceDesc, pasid: number | undefined): void;
  unroute(dom: object, dev: DeviceDesc, pasid: number | undefined, restoring?: object): void;
  /** Rewrites the DC of every device whose G-stage is `g` (GADE follows its dirty tracking). */
  rewriteGStage(g: object): void;
  /** Rewrites the DCs pointing at `dom` (after a bind). */
  rewriteRoutes(dom: object): void;
  ridsRoutedTo(dom: object): number[];
}
