"""What Ironic's Redfish inspection reads about a system's NICs, with python3-sushy: the
EthernetInterfaces summary (MAC -> state; Ironic keeps the Enabled ones) and each member's MAC,
permanent MAC and state.

Usage: /usr/bin/python3 sushy_nics.py <base-url> <user> <password>
Prints one JSON line; run by test/integration/controller/macs.test.ts.
"""
import json
import sys

import sushy

base_url, user, password = sys.argv[1:4]
try:
    root = sushy.Sushy(base_url, auth=sushy.auth.BasicAuth(user, password), verify=False)
    system = root.get_system()
    nics = system.ethernet_interfaces
    print(json.dumps({
        'op': 'nics',
        'power': str(getattr(system.power_state, 'value', system.power_state)),
        'summary': {mac: str(getattr(state, 'value', state)) for mac, state in nics.summary.items()},
        'members': [
            {
                'id': n.identity,
                'mac': n.mac_address,
                'permanent_mac': n.permanent_mac_address,
                'state': str(getattr(n.status.state, 'value', n.status.state)),
            }
            for n in nics.get_members()
        ],
    }))
except Exception as err:  # reported as a failed line
    print(json.dumps({'op': 'nics', 'error': f'{type(err).__name__}: {err}'}))
