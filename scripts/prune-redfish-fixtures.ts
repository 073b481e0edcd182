/**
 * Regenerates test/fixtures/redfish/ (the DMTF files the tests read) from the reference bundle in
 * `<repo>/../shared/redfish/` (or the directory given as the first argument):
 *
 *   node --import tsx scripts/prune-redfish-fixtures.ts [shared-redfish-dir]
 *
 * Copied as they are: the message registries the service answers with (Base, and the event ones of
 * src/redfish/events/registry.ts), the OpenStack Ironic interop profile and the DMTF licence.
 *
 * The JSON schemas of DSP8010 are pruned to what AJV compiles when it validates the payloads this
 * service serves (the types of src/redfish/schemas.ts, and every `#Type.vX_Y_Z.Type` literal under
 * src/redfish/). Every unversioned file (`Chassis.json`) says "one of every published version"
 * (`anyOf` of `idRef`, `Chassis.v1_0_17.json`, ..., `Chassis.v1_28_0.json`); that list is cut to
 * `idRef` and the version this service serves, or when it serves none, to `idRef` alone (a link),
 * or for an inline type without `idRef` (`Resource.json#/definitions/Location`) to the newest
 * version. Nothing else in any file changes. A smaller `anyOf` only accepts less, so a payload the
 * pruned set accepts is accepted by the full bundle too. The files kept are those AJV reaches from
 * the roots through `$ref`, counting the root `$ref` of every file it opens (AJV compiles the root
 * of a schema it resolves a reference into). References outside DSP8010 (Swordfish) stay dangling:
 * test/support/redfish-schemas.ts stands them in with permissive schemas, as before.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGISTRIES } from '../src/redfish/events/registry.ts';
import { BASE_REGISTRY } from '../src/redfish/messages.ts';
import { COLLECTIONS, SCHEMA_VERSIONS } from '../src/redfish/schemas.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SOURCE = resolve(process.argv[2] ?? join(REPO, '..', 'shared', 'redfish'));
const OUT = join(REPO, 'test', 'fixtures', 'redfish');
const JSON_SCHEMA_BUNDLE = 'dsp8010-2025.4-json-schema.tar.gz';
const PROFILE = 'OpenStackIronicProfile.v1_2_0.json';
const DMTF = 'http://redfish.dmtf.org/schemas/v1/';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

function need(path: string): string {
  if (!existsSync(path)) {
    console.error(`prune-redfish-fixtures: ${path} is missing`);
    process.exit(1);
  }
  return path;
}

// --- the schema versions this service serves -----------------------------------------------------

/** Type name → the versions of it the service emits. */
const served = new Map<string, Set<string>>();
const serve = (type: string, version: string) =>
  served.set(type, (served.get(type) ?? new Set()).add(version));
for (const [type, version] of Object.entries(SCHEMA_VERSIONS)) serve(type, version);
function scan(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) scan(p);
    else if (e.name.endsWith('.ts')) {
      for (const m of readFileSync(p, 'utf8').matchAll(/'#([A-Za-z]+)\.(v\d+_\d+_\d+)\.\1'/g))
        serve(m[1]!, m[2]!);
    }
  }
}
scan(join(REPO, 'src', 'redfish'));
const roots = [
  ...[...served].flatMap(([type, versions]) => [...versions].map((v) => `${type}.${v}.json`)),
  ...COLLECTIONS.map((c) => `${c}.json`),
].sort();

// --- the JSON schemas ----------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'dsp8010-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const untar = spawnSync('tar', ['xzf', need(join(SOURCE, JSON_SCHEMA_BUNDLE)), '-C', tmp], {
  stdio: 'inherit',
});
if (untar.status !== 0) throw new Error(`could not unpack ${JSON_SCHEMA_BUNDLE}`);
const SCHEMAS = readdirSync(tmp).includes('json-schema') ? join(tmp, 'json-schema') : tmp;

const cache = new Map<string, Obj | null>();
function load(file: string): Obj | null {
  if (!cache.has(file)) {
    const p = join(SCHEMAS, file);
    cache.set(file, existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Obj) : null);
  }
  return cache.get(file)!;
}

const VERSIONED_REF =
  /^http:\/\/redfish\.dmtf\.org\/schemas\/v1\/([A-Za-z0-9]+)\.v(\d+)_(\d+)_(\d+)\.json#\/definitions\/\w+$/;
const ID_REF = `${DMTF}odata-v4.json#/definitions/idRef`;
const newer = (a: RegExpExecArray, b: RegExpExecArray): boolean => {
  for (let i = 2; i <= 4; i++) if (a[i] !== b[i]) return Number(a[i]) > Number(b[i]);
  return false;
};

/**
 * A definition of an unversioned file that is an `anyOf` of published versions, with that list cut
 * (see the top of this file); any other definition as it is. `null` when nothing changes.
 */
function prunedDefinition(file: string, def: Json): Obj | null {
  if (!/^[A-Za-z0-9]+\.json$/.test(file) || def === null || typeof def !== 'object' || Array.isArray(def)) {
    return null;
  }
  const anyOf = def.anyOf;
  if (!Array.isArray(anyOf) || anyOf.length < 2) return null;
  const refs = anyOf.map((a) => (a && typeof a === 'object' && !Array.isArray(a) ? a.$ref : undefined));
  if (!refs.every((r) => typeof r === 'string' && (r === ID_REF || VERSIONED_REF.test(r)))) return null;
  const type = file.slice(0, -'.json'.length);
  const keep = refs.map((r) => {
    const m = VERSIONED_REF.exec(r as string);
    return !m || (m[1] === type && !!served.get(type)?.has(`v${m[2]}_${m[3]}_${m[4]}`));
  });
  if (!keep.some(Boolean)) {
    let newest = -1;
    refs.forEach((r, i) => {
      const m = VERSIONED_REF.exec(r as string)!;
      if (newest < 0 || newer(m, VERSIONED_REF.exec(refs[newest] as string)!)) newest = i;
    });
    keep[newest] = true;
  }
  if (keep.every(Boolean)) return null;
  return { ...def, anyOf: anyOf.filter((_, i) => keep[i]) };
}

/** A file as written to the fixtures: its pruned definitions, or null when it is copied unchanged. */
function prunedFile(file: string): Obj | null {
  const schema = load(file)!;
  const defs = schema.definitions;
  if (!defs || typeof defs !== 'object' || Array.isArray(defs)) return null;
  let changed = false;
  const out: Obj = {};
  for (const [name, def] of Object.entries(defs)) {
    const p = prunedDefinition(file, def);
    if (p) changed = true;
    out[name] = p ?? def;
  }
  return changed ? { ...schema, definitions: out } : null;
}

const pruned = new Map<string, Obj | null>();
const view = (file: string): Obj => {
  if (!pruned.has(file)) pruned.set(file, prunedFile(file));
  return pruned.get(file) ?? load(file)!;
};

function refsIn(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refsIn(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

const kept = new Set<string>();
const external = new Set<string>();
const seen = new Set<string>();
const queue: [string, string][] = [];
function open(file: string): void {
  if (kept.has(file)) return;
  const schema = load(file);
  if (!schema) throw new Error(`${file} is referenced but not in ${JSON_SCHEMA_BUNDLE}`);
  kept.add(file);
  const { definitions: _, ...root } = view(file);
  for (const r of refsIn(root)) queue.push([file, r]);
}
for (const r of roots) open(r);
while (queue.length) {
  const [from, ref] = queue.pop()!;
  const [url = '', fragment = ''] = ref.split('#');
  let file = from;
  if (url) {
    if (!url.startsWith(DMTF)) {
      external.add(url);
      continue;
    }
    file = url.slice(DMTF.length);
  }
  const key = `${file}#${fragment}`;
  if (seen.has(key)) continue;
  seen.add(key);
  open(file);
  let node: Json | undefined = view(file);
  for (const part of fragment.split('/').filter(Boolean)) {
    node = node && typeof node === 'object' && !Array.isArray(node) ? node[part] : undefined;
  }
  if (node === undefined) throw new Error(`${ref} (from ${from}) does not resolve`);
  for (const r of refsIn(node)) queue.push([file, r]);
}

// --- write ---------------------------------------------------------------------------------------

for (const sub of ['json-schema', 'registries', 'profiles'])
  rmSync(join(OUT, sub), { recursive: true, force: true });
mkdirSync(join(OUT, 'json-schema'), { recursive: true });
mkdirSync(join(OUT, 'registries'));
mkdirSync(join(OUT, 'profiles'));

let rewritten = 0;
for (const file of [...kept].sort()) {
  const p = pruned.get(file);
  if (p) {
    rewritten++;
    const note =
      'Pruned for kubevirtbmc tests by scripts/prune-redfish-fixtures.ts: anyOf lists of versions cut.';
    writeFileSync(
      join(OUT, 'json-schema', file),
      `${JSON.stringify({ $id: p.$id ?? null, $comment: note, ...p }, null, 4)}\n`,
    );
  } else copyFileSync(join(SCHEMAS, file), join(OUT, 'json-schema', file));
}

const registries = [
  `${BASE_REGISTRY.prefix}.${BASE_REGISTRY.version}.json`,
  ...Object.entries(REGISTRIES).map(([prefix, r]) => `${prefix}.${r.version}.json`),
];
for (const r of registries) copyFileSync(need(join(SOURCE, 'registries', r)), join(OUT, 'registries', r));
copyFileSync(need(join(SOURCE, 'profiles', PROFILE)), join(OUT, 'profiles', PROFILE));
copyFileSync(need(join(SOURCE, 'DMTF-LICENSE.md')), join(OUT, 'LICENSE.md'));

console.log(
  `${relative(REPO, OUT)}: ${kept.size} JSON schemas (${rewritten} with pruned anyOf) ` +
    `from ${roots.length} roots, ${registries.length} registries, 1 profile; ` +
    `${external.size} references outside DSP8010 left dangling`,
);
