"""Ironic's `redfish` inspect interface, its reads and its arithmetic, with python3-sushy: the
system, its processors and memory summaries, SimpleStorage disk sizes, Storage volume and drive
sizes, and the EthernetInterfaces summary. Prints what Ironic would record (cpus, cpu_arch,
memory_mb, local_gb, the MACs it makes ports for) and the raw values, as one JSON line.

Usage: /usr/bin/python3 sushy_inspect.py <base-url> <user> <password>
Run by test/integration/controller/inspection.test.ts.
"""
import json
import sys

import sushy

GIB = 1024 ** 3
ARCH = {'x86': 'x86_64', 'IA-64': 'ia64', 'ARM': 'arm', 'MIPS': 'mips', 'OEM': 'oem'}


def val(x):
    return str(getattr(x, 'value', x)) if x is not None else None


def first_big(sizes):
    # Ironic keeps the first size of 4 GiB or more of each sorted list; 0 if none.
    return ([s for s in sizes if s >= 4 * GIB] or [0])[0]


base_url, user, password = sys.argv[1:4]
try:
    root = sushy.Sushy(base_url, auth=sushy.auth.BasicAuth(user, password), verify=False)
    system = root.get_system()
    props = {}
    if system.memory_summary and system.memory_summary.size_gib:
        props['memory_mb'] = str(int(system.memory_summary.size_gib * 1024))
    cpus, arch = system.processors.summary
    if cpus:
        props['cpus'] = cpus
    if arch:
        props['cpu_arch'] = ARCH.get(val(arch), val(arch))
    simple = system.simple_storage.disks_sizes_bytes if system.simple_storage else []
    volumes = system.storage.volumes_sizes_bytes if system.storage else []
    drives = system.storage.drives_sizes_bytes if system.storage else []
    simple_size = first_big(simple) if simple else 0
    storage_size = first_big(volumes) if volumes else 0
    if not storage_size and drives:
        storage_size = first_big(drives)
    local = min(simple_size, storage_size) if simple_size and storage_size else max(simple_size, storage_size)
    props['local_gb'] = str(max(0, int(local / GIB - 1)))
    summary = system.ethernet_interfaces.summary or {}
    ports = sorted(mac for mac, state in summary.items() if val(state) == 'Enabled')
    drive_states = [
        val(d.status.state) for st in system.storage.get_members() for d in st.drives
    ]
    print(json.dumps({
        'op': 'inspect',
        'power': val(system.power_state),
        'properties': props,
        'ports': ports,
        'simple_storage_sizes': simple,
        'volume_sizes': volumes,
        'drive_sizes': drives,
        'drive_states': drive_states,
    }))
except Exception as err:  # reported as a failed line
    print(json.dumps({'op': 'inspect', 'error': f'{type(err).__name__}: {err}'}))
