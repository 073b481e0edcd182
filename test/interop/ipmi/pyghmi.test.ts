import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, OPERATOR, READONLY, startTestBmc } from '../../support/ipmi-bmc.ts';
import { run } from '../../support/ipmi-run.ts';

// pyghmi's Command with its default negotiation (suite 17 first, then 3); prints one JSON line per call.
const SCRIPT = `
import json, sys
from pyghmi.ipmi import command
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = command.Command(bmc='127.0.0.1', userid=user, password=password, port=port)
def out(x): print(json.dumps(x), flush=True)
for step in sys.argv[4:]:
    name, _, arg = step.partition('=')
    if name == 'get_power': out(c.get_power())
    elif name == 'set_power': out(c.set_power(arg, wait=True))
    elif name == 'get_bootdev': out(c.get_bootdev())
    elif name == 'set_bootdev':
        dev, persist, uefi = arg.split(',')
        out(c.set_bootdev(dev, persist=persist == 'persist', uefiboot=uefi == 'uefi'))
`;

function pyghmi(port: number, user: { username: string; password: string }, steps: string[]) {
  return run(
    '/usr/bin/python3',
    ['-c', SCRIPT, String(port), user.username, user.password, ...steps],
    60_000,
  );
}

test('pyghmi Command: get_power, set_power, set_bootdev, get_bootdev', {
  skip: missingClients('pyghmi'),
}, async () => {
  const bmc = await startTestBmc();
  try {
    const r = await pyghmi(bmc.port, ADMIN, [
      'get_power',
      'set_power=on',
      'get_power',
      'set_bootdev=network,persist,uefi',
      'get_bootdev',
      'set_bootdev=cd,once,legacy',
      'get_bootdev',
      'set_power=off',
      'get_power',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { powerstate: 'off' },
      { powerstate: 'on' },
      { powerstate: 'on' },
      { bootdev: 'network' },
      { bootdev: 'network', persistent: true, uefimode: true },
      { bootdev: 'cd' },
      { bootdev: 'optical', persistent: false, uefimode: false },
      { powerstate: 'off' },
      { powerstate: 'off' },
    ]);
    assert.deepEqual(bmc.machine.getBootOverride(), { target: 'Cd', persistence: 'Once', mode: 'Legacy' });
    assert.equal(bmc.machine.getPowerState(), 'Off');
    assert.deepEqual(
      bmc.machine.actionLog.map((a) => a.action),
      ['On', 'ForceOff'],
    );
  } finally {
    await bmc.stop();
  }
});

test('pyghmi with a wrong password fails and changes nothing', {
  skip: missingClients('pyghmi'),
}, async () => {
  const bmc = await startTestBmc();
  try {
    const r = await pyghmi(bmc.port, { username: 'admin', password: 'wrong' }, ['set_power=on']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Incorrect password|Unauthorized|password/i);
    assert.equal(bmc.machine.actionLog.length, 0);
  } finally {
    await bmc.stop();
  }
});

test('pyghmi: an OPERATOR account logs in (pyghmi retries at OPERATOR), a USER account cannot', {
  skip: missingClients('pyghmi'),
}, async () => {
  const bmc = await startTestBmc();
  try {
    const op = await pyghmi(bmc.port, OPERATOR, ['set_power=on', 'get_power']);
    assert.equal(op.code, 0, op.stderr);
    assert.deepEqual(
      op.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      [{ powerstate: 'on' }, { powerstate: 'on' }],
    );
    const user = await pyghmi(bmc.port, READONLY, ['set_power=off']);
    assert.notEqual(user.code, 0);
    assert.match(user.stderr, /Invalid role/);
    assert.equal(bmc.machine.getPowerState(), 'On');
  } finally {
    await bmc.stop();
  }
});
