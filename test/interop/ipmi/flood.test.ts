/**
 * Real consoles log in while the BMC is flooded with Open Session requests (which need no
 * authentication). The consoles reach the BMC through a relay that adds 50 ms each way, so every
 * handshake spans a full round trip of flood traffic; the flood is bounded (at most 30 s at
 * 1000 packets/s, stopped as soon as the logins are done).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingClients } from '../../support/clients.ts';
import { ADMIN, startTestBmc } from '../../support/ipmi-bmc.ts';
import { DelayRelay, loopbackAddresses, OpenSessionFlood } from '../../support/ipmi-flood.ts';
import { run } from '../../support/ipmi-run.ts';

const PYGHMI = `
import sys
from pyghmi.ipmi import command
c = command.Command(bmc='127.0.0.1', userid=sys.argv[2], password=sys.argv[3], port=int(sys.argv[1]))
print(c.get_power()['powerstate'], flush=True)
`;

/** ipmitool with its own retry policy made generous for a loaded machine (4 tries, 3 s each). */
function ipmitool(port: number, suite: number) {
  return run(
    'ipmitool',
    [
      '-I',
      'lanplus',
      '-C',
      String(suite),
      '-H',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      ADMIN.username,
      '-P',
      ADMIN.password,
      '-R',
      '4',
      '-N',
      '3',
      'power',
      'status',
    ],
    90_000,
  );
}

const FLOODS = [
  { name: 'one address', addresses: ['127.0.0.2'] },
  { name: '39 addresses (127.0.0.2-40)', addresses: loopbackAddresses(2, 40) },
];

for (const flood of FLOODS) {
  test(`ipmitool -C 3, -C 17 and pyghmi log in 50 ms away during an Open Session flood from ${flood.name}`, {
    skip: missingClients('ipmitool', 'pyghmi'),
    timeout: 150_000,
  }, async () => {
    const bmc = await startTestBmc();
    const relay = await DelayRelay.start(bmc.port, 50);
    const f = await OpenSessionFlood.start({
      port: bmc.port,
      addresses: flood.addresses,
      rate: 1000,
      maxMs: 30_000,
    });
    try {
      const t0 = Date.now();
      while (f.stats.answered < 200 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      const before = f.stats.answered;
      const [c3, c17, py] = await Promise.all([
        ipmitool(relay.port, 3),
        ipmitool(relay.port, 17),
        run('/usr/bin/python3', ['-c', PYGHMI, String(relay.port), ADMIN.username, ADMIN.password], 90_000),
      ]);
      const during = f.stats.answered - before;
      const stats = await f.stop();
      const detail = JSON.stringify(stats);
      assert.equal(c3.code, 0, `ipmitool -C 3: ${c3.stderr} ${detail}`);
      assert.equal(c3.stdout, 'Chassis Power is off\n');
      assert.equal(c17.code, 0, `ipmitool -C 17: ${c17.stderr} ${detail}`);
      assert.equal(c17.stdout, 'Chassis Power is off\n');
      assert.equal(py.code, 0, `pyghmi: ${py.stderr} ${detail}`);
      assert.equal(py.stdout, 'off\n');
      assert.ok(during > 0, `the flood went on during the logins (${detail})`);
    } finally {
      await f.stop();
      await relay.close();
      await bmc.stop();
    }
  });
}
