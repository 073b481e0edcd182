import { type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { odataType } from '../schemas.ts';

/**
 * Bios (read-only): the firmware settings a KubeVirt VM really has, as attributes. Changing them is
 * done through `Boot` (mode) and `SecureBoot`, so no `@Redfish.Settings` object is advertised (sushy
 * would PATCH it).
 */
export const bios: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Bios',
  get: (ctx) => {
    const s = systemOf(ctx);
    const boot = s.machine.getBootOverride();
    const secure = s.machine.getSecureBoot();
    return {
      '@odata.id': `${systemUri(s)}/Bios`,
      '@odata.type': odataType('Bios'),
      Id: 'Bios',
      Name: 'BIOS Configuration',
      Description: 'Firmware settings of the virtual machine (read-only; see Boot and SecureBoot)',
      Attributes: {
        BootMode: boot.mode === 'UEFI' ? 'Uefi' : 'Bios',
        SecureBoot: secure.enabled ? 'Enabled' : 'Disabled',
        SecureBootSupported: secure.supported,
      },
    };
  },
};
