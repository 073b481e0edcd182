import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * The DMTF reference files the tests read, kept in the repository under test/fixtures/redfish/
 * (regenerated from the DSP8010 2025.4 bundle by scripts/prune-redfish-fixtures.ts; see the README
 * there): the JSON schemas of the types this service serves, its message registries and the
 * OpenStack Ironic interop profile.
 */
export const FIXTURES = fileURLToPath(new URL('../fixtures/redfish/', import.meta.url));
export const SCHEMA_DIR = join(FIXTURES, 'json-schema');
export const IRONIC_PROFILE = join(FIXTURES, 'profiles', 'OpenStackIronicProfile.v1_2_0.json');

/** A published message registry, e.g. `registryFile('Base', '1.22.0')`. */
export function registryFile(prefix: string, version: string): string {
  return join(FIXTURES, 'registries', `${prefix}.${version}.json`);
}
export const BASE_REGISTRY_FILE = registryFile('Base', '1.22.0');

const DMTF = 'http://redfish.dmtf.org/schemas/v1/';
const REGENERATE = 'node --import tsx scripts/prune-redfish-fixtures.ts';

/** Validates payloads against the DMTF JSON schemas of test/fixtures/redfish/json-schema/. */
export class SchemaValidator {
  readonly #dir: string;
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();

  private constructor(dir: string) {
    this.#dir = dir;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;
    addFormats(this.#ajv);
    // References outside DSP8010 (Swordfish), by URL with the definitions used.
    const external = new Map<string, Set<string>>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      const schema = JSON.parse(text) as Record<string, unknown>;
      delete schema.$schema;
      // Some files carry another $id than their name (odata-v4.json says odata.v4_0_5.json): the
      // references use the file name, so register them under it.
      schema.$id = `${DMTF}${file}`;
      this.#ajv.addSchema(schema);
      for (const m of text.matchAll(
        /"\$ref":\s*"(http:\/\/redfish\.dmtf\.org\/schemas\/[^"#]+)(?:#\/definitions\/(\w+))?/g,
      )) {
        if (m[1]!.startsWith(DMTF)) continue;
        const defs = external.get(m[1]!) ?? new Set<string>();
        if (m[2]) defs.add(m[2]);
        external.set(m[1]!, defs);
      }
    }
    // Outside the bundle: a permissive stand-in with the definitions used.
    for (const [id, defs] of external) {
      this.#ajv.addSchema({ $id: id, definitions: Object.fromEntries([...defs].map((d) => [d, {}])) });
    }
  }

  static open(): SchemaValidator {
    return new SchemaValidator(SCHEMA_DIR);
  }

  /** The schema file a payload's `@odata.type` names, e.g. `ComputerSystem.v1_27_0.json`. */
  static fileFor(odataType: string): string {
    const m = /^#([A-Za-z]+)\.(?:(v\d+_\d+_\d+)\.)?[A-Za-z]+$/.exec(odataType);
    if (!m) throw new Error(`unexpected @odata.type ${odataType}`);
    return m[2] ? `${m[1]}.${m[2]}.json` : `${m[1]}.json`;
  }

  /** Error strings for a payload (empty when valid). */
  validate(payload: Record<string, unknown>): string[] {
    const type = payload['@odata.type'];
    if (typeof type !== 'string') return ['payload has no @odata.type'];
    const file = SchemaValidator.fileFor(type);
    let fn = this.#compiled.get(file);
    if (!fn) {
      if (!existsSync(join(this.#dir, file))) {
        return [`no schema ${file} in test/fixtures/redfish/json-schema (a new type? run ${REGENERATE})`];
      }
      try {
        fn = this.#ajv.getSchema(`${DMTF}${file}`)!;
      } catch (e) {
        // A reference into a schema the pruning left out: the fixtures are older than the service.
        throw new Error(`${file}: ${(e as Error).message} (run ${REGENERATE})`);
      }
      this.#compiled.set(file, fn);
    }
    if (fn(payload)) return [];
    return (fn.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
    );
  }
}
