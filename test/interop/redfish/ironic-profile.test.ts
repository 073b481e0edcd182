import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { IRONIC_PROFILE } from '../../support/redfish-schemas.ts';
import { crawl, type RawResponse, type RedfishFixture, startRedfish } from '../../support/redfish-service.ts';

/**
 * The OpenStack Ironic interoperability profile (v1.2.0, read from test/fixtures/redfish/profiles/),
 * evaluated the way the DMTF Interop-Validator does: every resource, property, action, parameter and
 * value it names becomes an item, Mandatory or Recommended; write requirements are exercised with
 * real PATCH requests. Every item must pass, except the deviations listed below, each of which must
 * really still fail (so the list stays true) and has its reason in docs/redfish.md.
 */
const DEVIATIONS: Record<string, string> = {
  'ComputerSystem.BiosVersion': 'the Machine exposes no firmware version',
  'ComputerSystem.IndicatorLED': 'a VM has no indicator LED; a fake one would mislead',
  'ComputerSystem.IndicatorLED (write)': 'a VM has no indicator LED',
  'Bios.AttributeRegistry': 'no attribute registry: the BIOS attributes are read-only',
  'Bios.@Redfish.Settings.SupportedApplyTimes': 'the settings object accepts no changes',
  'Bios#ResetBios': 'the BIOS attributes are read-only',
  'SecureBoot#ResetKeys': 'the Machine offers no key management',
  'ServiceRoot.UpdateService': 'there is no firmware to update',
  'ServiceRoot.TaskService':
    'the ServiceRoot schema names this link `Tasks` (served); `TaskService` is not a ServiceRoot property',
  UpdateService: 'there is no firmware to update',
  'Chassis.Power': 'a VM has no power supplies to report',
  'Chassis.Thermal': 'a VM has no fans or temperature sensors',
  Power: 'a VM has no power supplies to report',
  Thermal: 'a VM has no fans or temperature sensors',
  Volume: 'a VM has no RAID volumes',
  'VolumeCollection.@Redfish.OperationApplyTimeSupport': 'volumes cannot be created on a VM',
  'VolumeCollection.CreateResource': 'volumes cannot be created on a VM',
};

type Level = 'Mandatory' | 'Recommended';
interface Item {
  name: string;
  level: Level;
  ok: boolean;
  detail?: string;
}
// biome-ignore lint/suspicious/noExplicitAny: profile and payload JSON
type J = any;

let fx: RedfishFixture;
before(async () => {
  fx = await startRedfish({ machine: { supportsNmi: true } });
});
after(async () => fx?.close());

const typeName = (t: string): string => /^#([A-Za-z]+)\./.exec(t)?.[1] ?? '';
const typeVersion = (t: string): string | null =>
  /^#[A-Za-z]+\.v(\d+)_(\d+)_(\d+)\./.exec(t)?.slice(1).join('.') ?? null;
function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}
const uriPattern = (u: string): RegExp => new RegExp(`^${u.replace(/\{[^}]+\}/g, '[^/]+')}$`);

async function evaluate(profile: J, pages: Map<string, RawResponse>): Promise<Item[]> {
  const items: Item[] = [];
  const add = (name: string, level: Level, ok: boolean, detail?: string) =>
    items.push({ name, level, ok, ...(detail ? { detail } : {}) });
  const byType = new Map<string, { uri: string; body: J; allow: string }[]>();
  // A settings object (`@Redfish.Settings.SettingsObject`) holds pending values of its resource; it
  // is not another instance of it, so the resource's requirements do not apply to it.
  const settingsObjects = new Set<string>();
  for (const res of pages.values()) {
    JSON.stringify(res.json ?? {}).replace(/"SettingsObject":\{"@odata\.id":"([^"]+)"\}/g, (_, u: string) => {
      settingsObjects.add(u);
      return '';
    });
  }
  for (const [uri, res] of pages) {
    if (settingsObjects.has(uri)) continue;
    if (res.status !== 200 || typeof res.json?.['@odata.type'] !== 'string') continue;
    const t = typeName(res.json['@odata.type']);
    byType.set(t, [
      ...(byType.get(t) ?? []),
      { uri, body: res.json, allow: String(res.headers.allow ?? '') },
    ]);
  }
  const root = pages.get('/redfish/v1/')!.json;
  add('Protocol.MinVersion', 'Mandatory', versionAtLeast(root.RedfishVersion, profile.Protocol.MinVersion));
  for (const [reg, r] of Object.entries<J>(profile.Registries ?? {})) {
    const files = byType.get('MessageRegistryFile') ?? [];
    const ok = files.some((f) => {
      const m = new RegExp(`^${reg}\\.(\\d+\\.\\d+\\.\\d+)$`).exec(f.body.Registry);
      return m && versionAtLeast(m[1]!, r.MinVersion);
    });
    add(`Registries.${reg}`, 'Mandatory', ok);
  }

  const get = async (uri: string): Promise<J> => (await fx.request('GET', uri)).json;

  async function checkProps(
    type: string,
    instance: { uri: string; body: J; allow: string },
    obj: J,
    reqs: Record<string, J>,
    path: string,
  ): Promise<void> {
    for (const [prop, r] of Object.entries(reqs)) {
      const level: Level | 'IfImplemented' = r.ReadRequirement ?? 'Mandatory';
      const name = `${type}.${path}${prop}`;
      // A null value is present (e.g. `Image: null` on an empty slot), as for the Interop-Validator.
      const present = obj != null && prop in obj;
      if (!present) {
        if (r.ReplacedByProperty && obj && r.ReplacedByProperty in obj) continue;
        if (level === 'IfImplemented') continue;
        add(name, level === 'Recommended' ? 'Recommended' : 'Mandatory', false, `absent at ${instance.uri}`);
        if (r.WriteRequirement) add(`${name} (write)`, r.WriteRequirement, false, 'absent');
        continue;
      }
      const value = obj[prop];
      const lvl: Level = level === 'Recommended' ? 'Recommended' : 'Mandatory';
      let ok = true;
      let detail: string | undefined;
      if (r.Comparison === 'LinkToResource') {
        const target = typeof value?.['@odata.id'] === 'string' ? await get(value['@odata.id']) : null;
        ok = !!target && r.Values.includes(typeName(String(target['@odata.type'])));
        detail = `links to ${target?.['@odata.type']}`;
      } else if (r.Comparison === 'AnyOf') {
        ok = r.Values.includes(value);
      }
      if (r.MinCount !== undefined) ok &&= Array.isArray(value) && value.length >= r.MinCount;
      add(name, lvl, ok, detail);
      if (r.MinSupportValues) {
        const allowable: string[] | undefined = obj[`${prop}@Redfish.AllowableValues`];
        for (const v of r.MinSupportValues) {
          add(`${name}=${v}`, lvl, !allowable || allowable.includes(v), `allowable ${allowable}`);
        }
      }
      if (r.WriteRequirement === 'Mandatory' || r.WriteRequirement === 'Recommended') {
        add(`${name} (write)`, r.WriteRequirement, await writes(type, instance, `${path}${prop}`, r));
      }
      if (r.PropertyRequirements) {
        const children = Array.isArray(value) ? value : [value];
        for (const c of children)
          await checkProps(type, instance, c, r.PropertyRequirements, `${path}${prop}.`);
      }
    }
  }

  /** Exercises a write requirement with real PATCH requests, reading each value back. */
  async function writes(
    type: string,
    inst: { uri: string; allow: string },
    path: string,
    r: J,
  ): Promise<boolean> {
    if (!inst.allow.includes('PATCH')) return false;
    const patch = async (body: J) => (await fx.request('PATCH', inst.uri, { json: body })).status === 200;
    const read = async () => get(inst.uri);
    if (type === 'ComputerSystem' && path.startsWith('Boot.')) {
      const prop = path.slice(5);
      const before = (await read()).Boot;
      const values: string[] = r.MinSupportValues ?? before[`${prop}@Redfish.AllowableValues`];
      for (const v of values) {
        const body: J = { [prop]: v };
        if (prop === 'BootSourceOverrideEnabled' && v !== 'Disabled') body.BootSourceOverrideTarget = 'Pxe';
        if (!(await patch({ Boot: body })) || (await read()).Boot[prop] !== v) return false;
      }
      return patch({ Boot: { [prop]: before[prop] } });
    }
    if (type === 'SecureBoot' && path === 'SecureBootEnable') {
      for (const v of [true, false]) {
        if (!(await patch({ SecureBootEnable: v })) || (await read()).SecureBootEnable !== v) return false;
      }
      return true;
    }
    if (type === 'VirtualMedia') {
      const image = 'http://images.example/profile.iso';
      const ins = await fx.request('PATCH', inst.uri, {
        json: { Image: image, Inserted: true, WriteProtected: true },
      });
      if (![200, 202].includes(ins.status)) return false;
      const after = await read();
      if (after.Image !== image || after.Inserted !== true || after.WriteProtected !== true) return false;
      if (!(await patch({ Image: null, Inserted: false }))) return false;
      const ejected = await read();
      return ejected.Image === null && ejected.Inserted === false;
    }
    // Any other writable property: writing its current value back must be accepted.
    const current = path.split('.').reduce<J>((o, k) => o?.[k], await read());
    const body = path
      .split('.')
      .reverse()
      .reduce<J>((acc, k) => ({ [k]: acc }), current);
    return patch(body);
  }

  async function actionInfoParams(action: J): Promise<J[] | null> {
    const uri = action?.['@Redfish.ActionInfo'];
    if (typeof uri !== 'string') return null;
    return (await get(uri))?.Parameters ?? null;
  }

  for (const [type, req] of Object.entries<J>(profile.Resources)) {
    const level: Level | 'IfImplemented' = req.ReadRequirement ?? 'Mandatory';
    const instances = byType.get(type) ?? [];
    if (instances.length === 0) {
      if (level !== 'IfImplemented') add(type, level, false, 'not found in the tree');
      continue;
    }
    const lvl: Level = level === 'Recommended' ? 'Recommended' : 'Mandatory';
    add(type, lvl, true);
    if (req.MinVersion) {
      add(
        `${type}.MinVersion`,
        'Mandatory',
        instances.every((i) => {
          const v = typeVersion(i.body['@odata.type']);
          return v === null || versionAtLeast(v, req.MinVersion);
        }),
      );
    }
    if (req.URIs) {
      add(
        `${type}.URIs`,
        'Mandatory',
        instances.every((i) => req.URIs.some((u: string) => uriPattern(u).test(i.uri))),
      );
    }
    if (req.CreateResource) {
      add(
        `${type}.CreateResource`,
        'Mandatory',
        instances.every((i) => i.allow.includes('POST')),
      );
    }
    for (const inst of instances) {
      await checkProps(type, inst, inst.body, req.PropertyRequirements ?? {}, '');
      for (const [action, ar] of Object.entries<J>(req.ActionRequirements ?? {})) {
        const alevel: Level | 'IfImplemented' = ar.ReadRequirement ?? 'Mandatory';
        const a = inst.body.Actions?.[`#${type}.${action}`];
        const name = `${type}#${action}`;
        if (!a?.target) {
          if (alevel !== 'IfImplemented') add(name, alevel, false, `absent at ${inst.uri}`);
          continue;
        }
        add(name, alevel === 'Recommended' ? 'Recommended' : 'Mandatory', true);
        const info = await actionInfoParams(a);
        for (const [param, pr] of Object.entries<J>(ar.Parameters ?? {})) {
          const plevel: Level = pr.ReadRequirement === 'Recommended' ? 'Recommended' : 'Mandatory';
          const fromInfo = info?.find((p) => p.Name === param);
          const allowable: string[] | undefined =
            a[`${param}@Redfish.AllowableValues`] ?? fromInfo?.AllowableValues ?? undefined;
          add(
            `${name}.${param}`,
            plevel,
            !!fromInfo || allowable !== undefined,
            'declared by ActionInfo or annotation',
          );
          for (const v of pr.ParameterValues ?? []) {
            add(`${name}.${param}=${v}`, 'Mandatory', !allowable || allowable.includes(v));
          }
          for (const v of pr.RecommendedValues ?? []) {
            add(`${name}.${param}=${v}`, 'Recommended', !allowable || allowable.includes(v));
          }
        }
      }
    }
  }
  // One row per item name (several instances of a type): an item passes only if it always passed.
  const merged = new Map<string, Item>();
  for (const i of items) {
    const m = merged.get(i.name);
    merged.set(i.name, m ? { ...m, ok: m.ok && i.ok, detail: m.ok ? i.detail : m.detail } : i);
  }
  return [...merged.values()];
}

test('every item of the OpenStack Ironic interop profile v1.2.0 is met or a documented deviation', async () => {
  const profile = JSON.parse(readFileSync(IRONIC_PROFILE, 'utf8'));
  assert.equal(profile.ProfileName, 'OpenStackIronicProfile');
  const pages = await crawl(fx);
  const items = await evaluate(profile, pages);
  const mandatory = items.filter((i) => i.level === 'Mandatory');
  const recommended = items.filter((i) => i.level === 'Recommended');
  console.log(
    `Ironic profile: ${items.length} items (${mandatory.length} mandatory, ${recommended.length} recommended)\n` +
      items
        .map((i) => `  ${i.ok ? 'PASS' : DEVIATIONS[i.name] ? 'DEVIATION' : 'FAIL'} ${i.level} ${i.name}`)
        .join('\n'),
  );
  assert.ok(mandatory.length > 30, 'the profile was read and expanded into items');
  const unexpected = items
    .filter((i) => !i.ok && !DEVIATIONS[i.name])
    .map((i) => `${i.level} ${i.name}: ${i.detail}`);
  assert.deepEqual(unexpected, []);
  const stale = Object.keys(DEVIATIONS).filter((d) => items.find((i) => i.name === d)?.ok !== false);
  assert.deepEqual(stale, [], 'listed deviations that no longer fail (remove them)');
  // Every Mandatory item of the mandatory resources passes with no exception.
  for (const t of ['ServiceRoot', 'ComputerSystemCollection', 'ComputerSystem', 'VirtualMedia']) {
    const failing = items.filter((i) => i.level === 'Mandatory' && i.name.startsWith(t) && !i.ok);
    assert.deepEqual(failing, [], `${t}: mandatory items failing`);
  }
});
