"""pyghmi's SOL console (Debian python3-pyghmi): connects, prints what it receives on stdout, types
TYPE after the login prompt appears, and exits 0 once EXPECT was received (1 on error or timeout).
Usage: pyghmi_console.py PORT USER PASSWORD EXPECT TYPE TIMEOUT_S"""
import sys
import time

from pyghmi.ipmi import console
from pyghmi.ipmi.private import session

port, user, password, expect, typed, limit = sys.argv[1:7]
received = []
state = {'error': None, 'typed': False}


def handler(data):
    if isinstance(data, dict):
        if data.get('error'):
            state['error'] = data['error']
        return
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    received.append(data)
    sys.stdout.write(data)
    sys.stdout.flush()


con = console.Console(bmc='127.0.0.1', userid=user, password=password, port=int(port), iohandler=handler)
sys.stdout.write('[pyghmi console started]\n')
sys.stdout.flush()
deadline = time.time() + float(limit)
while time.time() < deadline:
    session.Session.wait_for_rsp(timeout=0.2)
    text = ''.join(received)
    if state['error']:
        sys.stdout.write('\n[pyghmi error: %s]\n' % state['error'])
        sys.exit(1)
    if typed and not state['typed'] and 'login: ' in text:
        state['typed'] = True
        con.send_data(typed)
    if expect in text and (not typed or state['typed']):
        con.close()
        sys.exit(0)
sys.stdout.write('\n[timeout]\n')
sys.exit(1)
