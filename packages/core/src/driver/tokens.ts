import type { InjectionToken } from '../di.js';
import type { VendorRegistration } from './driver.js';
import type { MachineContext } from './driver.js';

/** Every vendor registers one VendorRegistration under this token (multi-registration). */
export const IOMMU_DRIVER: InjectionToken<VendorRegistration> = Symbol.for('ioasid.IommuDriver');
/** The per-machine context a driver factory receives (child container per machine). */
export const MACHINE_CONTEXT: InjectionToken<MachineContext> = Symbol.for('ioasid.MachineContext');
