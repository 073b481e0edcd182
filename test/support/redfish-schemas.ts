import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Validates payloads against the DMTF JSON schemas of DSP8010 2025.4, read from
 * `<repo>/../shared/redfish/dsp8010-2025.4-json-schema.tar.gz` and unpacked into a temporary
 * directory. Without the bundle the caller skips (or, under CI=true, fails).
 */
export const SHARED = resolve(new URL('../../..', import.meta.url).pathname, 'shared');
export const SCHEMA_BUNDLE = join(SHARED, 'redfish', 'dsp8010-2025.4-json-schema.tar.gz');
export const IRONIC_PROFILE = join(SHARED, 'redfish', 'profiles', 'OpenStackIronicProfile.v1_2_0.json');
export const BASE_REGISTRY_FILE = join(SHARED, 'redfish', 'registries', 'Base.1.22.0.json');

/** False when present; otherwise a skip message, or a throw under CI=true. */
export function missingShared(path: string): string | false {
  if (existsSync(path)) return false;
  const msg = `MISSING REFERENCE FILE ${path} (the repo's ../shared/ must hold it)`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI=true: a missing bundle is a failure`);
  console.error(`\n*** SKIPPING: ${msg} ***\n`);
  return msg;
}

const DMTF = 'http://redfish.dmtf.org/schemas/v1/';

export class SchemaValidator {
  readonly #dir: string;
  readonly #ajv: Ajv;
  readonly #loaded = new Set<string>();
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #external = new Map<string, Set<string>>();

  private constructor(dir: string) {
    this.#dir = dir;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;
    addFormats(this.#ajv);
  }

  static open(): SchemaValidator {
    const dir = mkdtempSync(join(tmpdir(), 'dsp8010-'));
    const r = spawnSync('tar', ['xzf', SCHEMA_BUNDLE, '-C', dir], { stdio: 'inherit', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`could not unpack ${SCHEMA_BUNDLE}`);
    const sub = readdirSync(dir).includes('json-schema') ? join(dir, 'json-schema') : dir;
    const v = new SchemaValidator(sub);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return v;
  }

  /** The schema file a payload's `@odata.type` names, e.g. `ComputerSystem.v1_27_0.json`. */
  static fileFor(odataType: string): string {
    const m = /^#([A-Za-z]+)\.(?:(v\d+_\d+_\d+)\.)?[A-Za-z]+$/.exec(odataType);
    if (!m) throw new Error(`unexpected @odata.type ${odataType}`);
    return m[2] ? `${m[1]}.${m[2]}.json` : `${m[1]}.json`;
  }

  #add(file: string): void {
    if (this.#loaded.has(file)) return;
    this.#loaded.add(file);
    const path = join(this.#dir, file);
    if (!existsSync(path)) {
      // A schema outside the bundle (e.g. Swordfish): accept anything there.
      this.#ajv.addSchema({ $id: `${DMTF}${file}` });
      return;
    }
    const text = readFileSync(path, 'utf8');
    const schema = JSON.parse(text) as Record<string, unknown>;
    delete schema.$schema;
    // Some files carry another $id than their name (odata-v4.json says odata.v4_0_5.json): the
    // references use the file name, so register them under it.
    schema.$id = `${DMTF}${file}`;
    this.#ajv.addSchema(schema);
    for (const m of text.matchAll(
      /"\$ref":\s*"(http:\/\/redfish\.dmtf\.org\/schemas\/[^"#]+)(?:#\/definitions\/(\w+))?/g,
    )) {
      const ref = m[1]!;
      if (ref.startsWith(DMTF)) this.#add(ref.slice(DMTF.length));
      else {
        // Outside the DSP8010 bundle (Swordfish): a permissive stand-in with the definitions used.
        const defs = this.#external.get(ref) ?? new Set<string>();
        if (m[2]) defs.add(m[2]);
        this.#external.set(ref, defs);
      }
    }
  }

  /** Error strings for a payload (empty when valid). */
  validate(payload: Record<string, unknown>): string[] {
    const type = payload['@odata.type'];
    if (typeof type !== 'string') return ['payload has no @odata.type'];
    const file = SchemaValidator.fileFor(type);
    let fn = this.#compiled.get(file);
    if (!fn) {
      this.#add(file);
      for (const [id, defs] of this.#external) {
        this.#ajv.removeSchema(id);
        this.#ajv.addSchema({ $id: id, definitions: Object.fromEntries([...defs].map((d) => [d, {}])) });
      }
      const compiled = this.#ajv.getSchema(`${DMTF}${file}`);
      if (!compiled) return [`no schema ${file} in the bundle`];
      fn = compiled;
      this.#compiled.set(file, fn);
    }
    if (fn(payload)) return [];
    return (fn.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
    );
  }
}
