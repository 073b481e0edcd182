"""Drives the service with python3-sushy the way Ironic's redfish drivers do.

Usage: /usr/bin/python3 sushy_ironic.py <base-url> <user> <password> <basic|session> <ops-json>
<ops-json> is a list of operations; one JSON line is printed per operation with what the client saw.
Run by test/interop/redfish/sushy.test.ts, which checks the machine's state after each step.
"""
import json
import sys
import time

import sushy
from sushy.resources.manager.virtual_media import VirtualMediaCollection

base_url, user, password, auth_kind, ops = sys.argv[1:6]
auth = (sushy.auth.BasicAuth(user, password) if auth_kind == 'basic'
        else sushy.auth.SessionAuth(user, password))
root = sushy.Sushy(base_url, auth=auth, verify=False)


def out(**kw):
    print(json.dumps(kw, default=str), flush=True)


def value(e):
    return None if e is None else getattr(e, 'value', e)


def system(op):
    # Ironic: a configured redfish_system_id, else exactly one member of /Systems.
    return root.get_system(op.get('system'))


def vmedia_members(op):
    s = system(op)
    if op.get('via') == 'system':
        coll = VirtualMediaCollection(root._conn, s.path + '/VirtualMedia',
                                      redfish_version=root.redfish_version)
        return coll.get_members()
    members = []
    for manager in s.managers:
        members.extend(manager.virtual_media.get_members())
    return members


for op in json.loads(ops):
    kind = op['op']
    try:
        if kind == 'discover':
            s = system(op)
            out(op=kind, vendor=root.json.get('Vendor'), product=root.product, uuid=root.uuid,
                redfish_version=root.redfish_version, system_id=s.identity,
                power=value(s.power_state),
                resets=sorted(value(v) for v in s.get_allowed_reset_system_values()),
                boot_sources=sorted(value(v) for v in s.get_allowed_system_boot_source_values()),
                boot={'target': value(s.boot.target), 'enabled': value(s.boot.enabled),
                      'mode': value(s.boot.mode)},
                managers=[m.identity for m in s.managers],
                manager_types=[value(m.manager_type) for m in s.managers],
                chassis=[c.identity for c in s.chassis],
                macs=sorted(s.ethernet_interfaces.summary.keys()),
                memory_gib=s.memory_summary.size_gib,
                cpu_threads=s.processors.summary.count,
                cpu_arch=value(s.processors.summary.architecture),
                simple_storage_bytes=s.simple_storage.disks_sizes_bytes if s.simple_storage else None,
                drives=sorted(d.name for st in s.storage.get_members() for d in st.drives),
                bios_attrs=s.bios.attributes,
                secure_boot=s.secure_boot.enabled,
                uuid_system=s.uuid, serial=s.serial_number)
        elif kind == 'power':
            s = system(op)
            s.reset_system(sushy.ResetType(op['value']))
            out(op=kind, value=op['value'], ok=True)
        elif kind == 'sleep':
            time.sleep(op['seconds'])
            out(op=kind)
        elif kind == 'read_power':
            out(op=kind, power=value(system(op).power_state))
        elif kind == 'boot':
            s = system(op)
            kw = {}
            if 'target' in op:
                kw['target'] = sushy.BootSource(op['target'])
            if 'enabled' in op:
                kw['enabled'] = sushy.BootSourceOverrideEnabled(op['enabled'])
            if 'mode' in op:
                kw['mode'] = sushy.BootSourceOverrideMode(op['mode'])
            s.set_system_boot_options(**kw)
            s.refresh()
            out(op=kind, boot={'target': value(s.boot.target), 'enabled': value(s.boot.enabled),
                               'mode': value(s.boot.mode)})
        elif kind == 'secure_boot':
            s = system(op)
            sb = s.secure_boot
            sb.set_enabled(op['value'])
            sb.refresh()
            out(op=kind, enabled=sb.enabled)
        elif kind == 'insert':
            done = []
            for vm in vmedia_members(op):
                if 'CD' in [value(t) for t in vm.media_types] or 'DVD' in [value(t) for t in vm.media_types]:
                    vm.insert_media(op['image'], inserted=True, write_protected=True)
                    vm.refresh()
                    done.append({'path': vm.path, 'inserted': vm.inserted, 'image': vm.image})
                    break
            out(op=kind, done=done)
        elif kind == 'eject':
            done = []
            for vm in vmedia_members(op):
                if vm.inserted:
                    vm.eject_media()
                    vm.refresh()
                    done.append({'path': vm.path, 'inserted': vm.inserted, 'image': vm.image})
            out(op=kind, done=done)
        else:
            out(op=kind, error='unknown op')
    except Exception as e:  # report and go on: the test decides
        out(op=kind, error='%s: %s' % (type(e).__name__, e))
