import tls from 'node:tls';

/**
 * The TLS settings of the Redfish service. Defaults follow Mozilla's "intermediate" server profile
 * (version 5.7 of their guidelines): TLS 1.2 and 1.3; under TLS 1.2 only ECDHE key exchange with
 * AES-GCM or ChaCha20-Poly1305 (forward secrecy and authenticated encryption; no CBC, no static
 * RSA key exchange; no DHE, which would need Diffie-Hellman parameters); curves X25519, P-256,
 * P-384; the client's cipher preference is honoured (every suite offered is strong). "modern" is
 * TLS 1.3 only. A list of cipher names replaces the profile's TLS 1.2 suites (and, for names
 * starting `TLS_`, its TLS 1.3 suites). Bad settings throw `TlsConfigError` saying what to change.
 */
export type TlsProfileName = 'intermediate' | 'modern';
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsSettings {
  /** Default `intermediate`. */
  readonly profile?: TlsProfileName;
  /** Lowest version offered (default: the profile's). TLS 1.0 and 1.1 are never offered. */
  readonly minVersion?: TlsVersion;
  /** Highest version offered (default TLSv1.3). */
  readonly maxVersion?: TlsVersion;
  /** Colon-separated OpenSSL cipher names (default: the profile's). */
  readonly ciphers?: string;
}

/** What `https.createServer` is given besides the certificate. */
export interface TlsServerSettings {
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  readonly ciphers: string;
  readonly ecdhCurve: string;
  readonly honorCipherOrder: boolean;
}

interface Profile {
  readonly minVersion: TlsVersion;
  readonly tls12: readonly string[];
  readonly tls13: readonly string[];
}

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const TLS_PROFILES: Readonly<Record<TlsProfileName, Profile>> = {
  intermediate: {
    minVersion: 'TLSv1.2',
    tls12: [
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ],
    tls13: TLS13_SUITES,
  },
  modern: { minVersion: 'TLSv1.3', tls12: [], tls13: TLS13_SUITES },
};

export const TLS_CURVES = 'X25519:prime256v1:secp384r1';

export class TlsConfigError extends Error {}

/** How the settings are named where they were given (agent flags, or the library option). */
export interface TlsSettingNames {
  readonly profile: string;
  readonly minVersion: string;
  readonly maxVersion: string;
  readonly ciphers: string;
}

const OPTION_NAMES: TlsSettingNames = {
  profile: 'tlsSettings.profile',
  minVersion: 'tlsSettings.minVersion',
  maxVersion: 'tlsSettings.maxVersion',
  ciphers: 'tlsSettings.ciphers',
};

const VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

function version(value: string, name: string): TlsVersion {
  if ((VERSIONS as readonly string[]).includes(value)) return value as TlsVersion;
  if (/^TLSv1(\.[01])?$/.test(value) || /^SSL/i.test(value))
    throw new TlsConfigError(`${name} ${value}: TLS below 1.2 is not offered; use TLSv1.2 or TLSv1.3`);
  throw new TlsConfigError(`${name} "${value}" is not a TLS version; use TLSv1.2 or TLSv1.3`);
}

/**
 * Checks `settings` and returns the server options, plus warnings for choices weaker than the
 * intermediate profile (cipher names without forward secrecy or authenticated encryption).
 */
export function resolveTls(
  settings: TlsSettings = {},
  names: TlsSettingNames = OPTION_NAMES,
): { options: TlsServerSettings; warnings: string[] } {
  // An agent makes one service per BMC, all with the same settings: check them once.
  const key = JSON.stringify([settings.profile, settings.minVersion, settings.maxVersion, settings.ciphers]);
  const known = resolved.get(key);
  if (known) return { options: known.options, warnings: [...known.warnings] };
  const result = check(settings, names);
  if (resolved.size < 16) resolved.set(key, result);
  return { options: result.options, warnings: [...result.warnings] };
}

const resolved = new Map<string, { options: TlsServerSettings; warnings: readonly string[] }>();

function check(
  settings: TlsSettings,
  names: TlsSettingNames,
): { options: TlsServerSettings; warnings: string[] } {
  const profileName = settings.profile ?? 'intermediate';
  const profile = TLS_PROFILES[profileName as TlsProfileName];
  if (!profile || !Object.hasOwn(TLS_PROFILES, profileName)) {
    throw new TlsConfigError(`${names.profile} "${profileName}" is unknown; use intermediate or modern`);
  }
  const minVersion = version(settings.minVersion ?? profile.minVersion, names.minVersion);
  const maxVersion = version(settings.maxVersion ?? 'TLSv1.3', names.maxVersion);
  if (minVersion > maxVersion) {
    throw new TlsConfigError(
      `${names.minVersion} ${minVersion} is above ${names.maxVersion} ${maxVersion}; lower the minimum or raise the maximum`,
    );
  }
  const warnings: string[] = [];
  let tls12 = [...profile.tls12];
  let tls13 = [...profile.tls13];
  if (settings.ciphers !== undefined) {
    const known = new Set(tls.getCiphers());
    const given = settings.ciphers.split(':').map((c) => c.trim());
    if (given.some((c) => c === '')) {
      throw new TlsConfigError(`${names.ciphers} has an empty entry; give cipher names separated by ":"`);
    }
    for (const c of given) {
      if (!known.has(c.toLowerCase())) {
        const hint = /[!+@]|^[A-Z0-9]+$/.test(c)
          ? 'give cipher names, not OpenSSL keywords or operators'
          : 'see `openssl ciphers -v` for the names, e.g. ECDHE-RSA-AES128-GCM-SHA256';
        throw new TlsConfigError(`${names.ciphers}: unknown cipher "${c}"; ${hint}`);
      }
    }
    const upper = given.map((c) => c.toUpperCase());
    const n13 = upper.filter((c) => c.startsWith('TLS_'));
    const n12 = upper.filter((c) => !c.startsWith('TLS_'));
    if (n13.length > 0) tls13 = n13;
    if (n12.length > 0) tls12 = n12;
    if (n12.length > 0 && minVersion === 'TLSv1.3') {
      throw new TlsConfigError(
        `${names.ciphers} names TLS 1.2 suites (${n12.join(', ')}) but TLS 1.2 is off (${names.minVersion} is TLSv1.3): drop them, or allow TLSv1.2`,
      );
    }
    for (const c of n12) {
      if (!/^ECDHE-|^DHE-/.test(c)) warnings.push(`${c} has no forward secrecy`);
      else if (/^DHE-/.test(c))
        warnings.push(`${c} needs Diffie-Hellman parameters, which are not set: it is never used`);
      if (!/GCM|CHACHA20|CCM/.test(c)) warnings.push(`${c} is not an AEAD (authenticated encryption) suite`);
    }
  }
  if (minVersion === 'TLSv1.2' && tls12.length === 0) {
    throw new TlsConfigError(
      `TLS 1.2 is allowed but the ${profileName} profile has no TLS 1.2 cipher suites: set ${names.minVersion} TLSv1.3, or give TLS 1.2 suites in ${names.ciphers}`,
    );
  }
  const options: TlsServerSettings = {
    minVersion,
    maxVersion,
    // Node sends names starting TLS_ to the TLS 1.3 list and the rest to the TLS 1.2 list.
    ciphers: [...(maxVersion === 'TLSv1.3' ? tls13 : []), ...(minVersion === 'TLSv1.2' ? tls12 : [])].join(
      ':',
    ),
    ecdhCurve: TLS_CURVES,
    honorCipherOrder: false,
  };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new TlsConfigError(`the TLS settings are refused by OpenSSL: ${(err as Error).message}`);
  }
  return { options, warnings };
}
