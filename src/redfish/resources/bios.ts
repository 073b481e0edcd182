import { render } from '../etag.ts';
import { type Ctx, type Json, type ResourceDef, ref, systemOf, systemUri } from '../resource.ts';
import { odataType } from '../schemas.ts';

/**
 * Bios and its settings object (`Bios/Settings`), both read-only: the firmware settings a KubeVirt VM
 * really has, as attributes. They change through `Boot` (mode) and `SecureBoot`; the settings
 * object exists because clients (sushy, the Ironic profile) expect `@Redfish.Settings` to lead
 * somewhere, and it holds no pending change.
 */
function attributes(ctx: Ctx): Json {
  const s = systemOf(ctx);
  const boot = s.machine.getBootOverride();
  const secure = s.machine.getSecureBoot();
  return {
    BootMode: boot.mode === 'UEFI' ? 'Uefi' : 'Bios',
    SecureBoot: secure.enabled ? 'Enabled' : 'Disabled',
    SecureBootSupported: secure.supported,
  };
}

function settingsBody(ctx: Ctx): Json {
  return {
    '@odata.id': `${systemUri(systemOf(ctx))}/Bios/Settings`,
    '@odata.type': odataType('Bios'),
    Id: 'Settings',
    Name: 'BIOS Pending Settings',
    Description: 'No pending changes: the VM firmware settings change through Boot and SecureBoot',
    Attributes: attributes(ctx),
  };
}

export const bios: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Bios',
  get: (ctx) => {
    const base = `${systemUri(systemOf(ctx))}/Bios`;
    return {
      '@odata.id': base,
      '@odata.type': odataType('Bios'),
      Id: 'Bios',
      Name: 'BIOS Configuration',
      Description: 'Firmware settings of the virtual machine (read-only; see Boot and SecureBoot)',
      Attributes: attributes(ctx),
      '@Redfish.Settings': {
        '@odata.type': '#Settings.v1_4_0.Settings',
        SettingsObject: ref(`${base}/Settings`),
        ETag: render(settingsBody(ctx)).etag,
        Messages: [],
      },
    };
  },
};

export const biosSettings: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/Bios/Settings',
  get: settingsBody,
};
