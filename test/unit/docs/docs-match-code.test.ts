/**
 * Statements in the docs that the code decides: each is read from the page and compared with what
 * the code advertises, so a change on either side fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AUTH_MD2, AUTH_MD5, AUTH_NONE, AUTH_PASSWORD } from '../../../src/ipmi/codec/lan15.ts';
import { authTypeBits } from '../../../src/ipmi/commands/app.ts';
import { SUPPORTED_ACTIONS } from '../../../src/kubevirt/power.ts';
import type { Machine } from '../../../src/machine/index.ts';
import { redfishResetTypes } from '../../../src/redfish/resources/computer-system-reset.ts';

const doc = (path: string) => readFileSync(new URL(`../../../docs/${path}`, import.meta.url), 'utf8');
const ticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

test('docs/integrations/curl.md lists exactly the ResetType values the BMC advertises for a KubeVirt VM', () => {
  const para = /^`ResetType`: (.*?): exactly the values/ms.exec(doc('integrations/curl.md'));
  assert.ok(para, 'the ResetType paragraph of curl.md');
  // The KubeVirt machine's supported actions, through the same function that fills the System's
  // ResetType@Redfish.AllowableValues and checks the POST.
  const machine = { getSupportedPowerActions: () => SUPPORTED_ACTIONS } as unknown as Machine;
  assert.deepEqual(ticked(para[1]!), redfishResetTypes(machine));
  assert.ok(!redfishResetTypes(machine).includes('Nmi'), 'KubeVirt has no NMI: not advertised');
});

test('docs/integrations/ipmitool-freeipmi.md names the IPMI 1.5 auth types Get Channel Auth Capabilities advertises', () => {
  const row = /^\| IPMI 1\.5 auth type \(`-A`.*?\| (.*) \|$/m.exec(doc('integrations/ipmitool-freeipmi.md'));
  assert.ok(row, 'the auth type row of the ipmitool table');
  const [accepted = '', refused = ''] = row[1]!.split(/;(?=[^;]*refused)/);
  const names: Record<string, number> = {
    NONE: AUTH_NONE,
    MD2: AUTH_MD2,
    MD5: AUTH_MD5,
    PASSWORD: AUTH_PASSWORD,
  };
  const bits = authTypeBits(false);
  const advertised = Object.keys(names).filter((n) => bits & (1 << names[n]!));
  assert.deepEqual(
    ticked(accepted).filter((t) => t in names),
    advertised,
    'the types the doc says are accepted are the ones the BMC advertises',
  );
  for (const t of ticked(refused))
    assert.ok(!(bits & (1 << names[t]!)), `${t} is said refused but advertised`);
});

test('docs/performance.md: the p99 latency it states for 1,000 BMCs is the one in its own table', () => {
  const text = doc('performance.md');
  const row = /^\| 1000 \|.*$/m.exec(text)?.[0];
  assert.ok(row, 'the 1,000-BMC row of the scale table');
  const p99s = [...row.matchAll(/\/ ([\d.]+) (ms|µs) \|/g)].map(
    (m) => Number(m[1]) / (m[2] === 'µs' ? 1000 : 1),
  );
  assert.equal(p99s.length, 2, `IPMI and Redfish p99 in ${row}`);
  const claim = /p99 (?:stayed )?under (\d+(?:\.\d+)?) ms at 1,000 BMCs/.exec(text);
  assert.ok(claim, 'the sentence on p99 at 1,000 BMCs');
  assert.ok(Math.max(...p99s) < Number(claim[1]), `${claim[0]}, but the table has ${p99s.join(' and ')} ms`);
});
