import { fail } from '../messages.ts';
import { collection, type Json, type ResourceDef, systemOf, systemUri } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { safeId } from '../topology.ts';

/**
 * EthernetInterfaceCollection and EthernetInterface: one member per VM NIC. Ironic keeps only
 * members with a `MACAddress` and `Status.State` `Enabled`; a NIC whose MAC is not known yet is
 * `Disabled`. A machine that is off still shows the MAC it had at its last start (as a powered-off
 * server shows its NICs' MACs), with `LinkStatus` `LinkDown`. `PermanentMACAddress` is given only for
 * a MAC that stays the same at every start (`macSource` `configured`, e.g. set in the VM spec);
 * where the next start may change it, the `Description` says so.
 */
const base = (ctx: Parameters<typeof systemOf>[0]) => `${systemUri(systemOf(ctx))}/EthernetInterfaces`;

export const ethernetInterfaces: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/EthernetInterfaces',
  get: (ctx) => {
    const s = systemOf(ctx);
    const uri = base(ctx);
    return collection(
      collectionType('EthernetInterfaceCollection'),
      uri,
      'Ethernet Interface Collection',
      s.machine.getInventory().nics.map((n) => `${uri}/${safeId(n.id)}`),
    );
  },
};

export const ethernetInterface: ResourceDef = {
  uri: '/redfish/v1/Systems/{ComputerSystemId}/EthernetInterfaces/{EthernetInterfaceId}',
  get: (ctx) => {
    const s = systemOf(ctx);
    const id = ctx.params.EthernetInterfaceId ?? '';
    const nic = s.machine.getInventory().nics.find((n) => safeId(n.id) === id);
    if (!nic) throw fail(404, 'ResourceNotFound', ['EthernetInterface', id]);
    const mac = nic.mac;
    const fixed = (nic.macSource ?? 'configured') === 'configured';
    const body: Json = {
      '@odata.id': `${base(ctx)}/${id}`,
      '@odata.type': odataType('EthernetInterface'),
      Id: id,
      Name: nic.name,
      Description:
        nic.macSource === 'last-start'
          ? `Virtual NIC ${nic.name}: the MAC address it had at its last start; the next start may assign another`
          : nic.macSource === 'running'
            ? `Virtual NIC ${nic.name}: MAC address assigned at this start; the next start may assign another`
            : `Virtual NIC ${nic.name}`,
      InterfaceEnabled: true,
      LinkStatus: nic.linkUp ? 'LinkUp' : 'LinkDown',
      Status: { State: mac ? 'Enabled' : 'Disabled', Health: 'OK' },
      IPv4Addresses: nic.ipv4.map((Address) => ({ Address, AddressOrigin: 'DHCP' })),
      IPv6Addresses: nic.ipv6.map((Address) => ({ Address })),
    };
    if (mac) {
      body.MACAddress = mac;
      if (fixed) body.PermanentMACAddress = mac;
    }
    return body;
  },
};
