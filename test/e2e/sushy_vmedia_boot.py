"""Virtual-media boot of one VM with python3-sushy, in the order Ironic's redfish-virtualmedia deploy
uses: power off, find the CD slot (under the System's Manager), insert the image, boot from CD once,
power on.

Usage: /usr/bin/python3 sushy_vmedia_boot.py <base-url> <user> <password> <image-url>
Prints one JSON object with what sushy saw; run by test/e2e/demo.test.ts.
"""
import json
import sys
import time

import sushy

base_url, user, password, image = sys.argv[1:5]
root = sushy.Sushy(base_url, auth=sushy.auth.SessionAuth(user, password), verify=False)
system = root.get_system()  # the collection has exactly one member
before = system.power_state
if before != sushy.POWER_STATE_OFF:
    system.reset_system(sushy.RESET_FORCE_OFF)
    deadline = time.time() + 60
    while system.power_state != sushy.POWER_STATE_OFF and time.time() < deadline:
        time.sleep(0.5)
        system.refresh()
slot = None
for manager in system.managers:
    for vm in manager.virtual_media.get_members():
        if 'CD' in [getattr(t, 'value', t) for t in vm.media_types]:
            slot = vm
            break
if slot is None:
    print(json.dumps({'error': 'no CD virtual media slot'}))
    sys.exit(1)
slot.insert_media(image, inserted=True, write_protected=True)
slot.refresh()
system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_CD, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
system.refresh()
system.reset_system(sushy.RESET_ON)
print(json.dumps({
    'slot': slot.path,
    'inserted': slot.inserted,
    'image': slot.image,
    'boot_target': getattr(system.boot.target, 'value', system.boot.target),
    'boot_enabled': getattr(system.boot.enabled, 'value', system.boot.enabled),
    'power_before': getattr(before, 'value', before),
}))
