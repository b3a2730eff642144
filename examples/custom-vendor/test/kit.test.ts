import { defineConformanceSuite } from '@ioasid/conformance';
// Importing the plugin registers it (registerVendor) in core's DI container.
import '@ioasid-example/flat-iommu';

// The full flat IOMMU: nesting, PASIDs, page requests, guest PASID tables, ENQCMD.
defineConformanceSuite({ vendor: 'flat-iommu' });

// The same hardware with every optional feature off: the binding cases must be reported
// unsupported, and each checks that the vendor refuses the command with the right errno.
defineConformanceSuite({
  vendor: 'flat-iommu',
  title: 'conformance: flat-iommu (minimal: no nesting, no PASID)',
  machineOptions: { flat: { nesting: false, pasidBits: 0, pri: false, pasidTables: false, enqcmd: false } },
});

// Nesting and PASIDs, but neither ENQCMD nor page requests: the two cases that need them are
// unsupported, and check what is refused (KVM_MAP_PASID; PAGE_RESPONSE to an unrecoverable fault).
defineConformanceSuite({
  vendor: 'flat-iommu',
  title: 'conformance: flat-iommu (no ENQCMD, no PRI)',
  machineOptions: { flat: { enqcmd: false, pri: false } },
  filter: (id) => id === '5.5-enqcmd' || id === '5.6-page-fault',
});
