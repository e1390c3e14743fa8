// The TLS keys (SPEC §2): tls_cert and tls_key (both or neither),
// tls_client_ca, tls_min_version, tls_timeout. superd terminates TLS on a
// connection it accepts itself, so they fit a tcp nowait service (a program
// or a builtin) and nothing else. Pure: the files are read afterwards, at
// every load (tls-files.ts).
import path from 'node:path';
import { fail, ok } from '../errors.js';
import { clip } from './clip.js';
import type { Reader } from './section-reader.js';
import type { Key } from './suggest.js';
import type { Handler, Protocol, TlsSettings, TlsVersion } from './types.js';
import { parseSeconds, type Parsed } from './values.js';

const VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
/** SPEC §2. */
export const DEFAULT_TLS_TIMEOUT = 10;
const FILE_KEYS = ['tls_cert', 'tls_key', 'tls_client_ca'] as const;
const OPTION_KEYS: readonly Key[] = ['tls_client_ca', 'tls_min_version', 'tls_timeout'];

export function readTls(r: Reader, protocol: Protocol | null, wait: boolean, handler: Handler | null): TlsSettings | null {
  const cert = r.has('tls_cert');
  const key = r.has('tls_key');
  if (!cert && !key) {
    for (const k of OPTION_KEYS) {
      if (r.has(k)) r.report('bad_combination', k, `${k} has no effect without tls_cert and tls_key: set those too, or remove ${k}`);
    }
    return null;
  }
  if (cert !== key) {
    const [has, lacks] = cert ? (['tls_cert', 'tls_key'] as const) : (['tls_key', 'tls_cert'] as const);
    r.report('missing_key', has, `${has} needs ${lacks} too: TLS takes a certificate (tls_cert) and its private key (tls_key), both PEM files`);
  }
  const misfit = whyNot(protocol, wait, handler);
  if (misfit !== null) r.report('bad_combination', cert ? 'tls_cert' : 'tls_key', misfit);
  const [certFile, keyFile, caFile] = FILE_KEYS.map((k) => r.field<string | null>(k, null, (v) => parsePemPath(k, v)));
  const minVersion = r.field<TlsVersion>('tls_min_version', 'TLSv1.2', parseVersion);
  const timeout = r.field('tls_timeout', DEFAULT_TLS_TIMEOUT, (v) => parseSeconds('tls_timeout', v));
  if (certFile == null || keyFile == null || misfit !== null) return null;
  if (r.has('tls_client_ca') && caFile == null) return null;
  return { cert: certFile, key: keyFile, clientCa: caFile ?? null, minVersion, timeout, loaded: null };
}

/** `TLSv1.2` or `TLSv1.3`, in any case, written as OpenSSL and Node write them. */
function parseVersion(v: string): Parsed<TlsVersion> {
  const found = VERSIONS.find((known) => known.toLowerCase() === v.toLowerCase());
  return found === undefined ? fail(`tls_min_version must be one of ${VERSIONS.join(', ')}, got '${clip(v)}'`) : ok(found);
}

/** An absolute path: superd runs in / and a relative one would mean something else to whoever reads the file. */
export function parsePemPath(key: string, v: string): Parsed<string> {
  if (v === '' || !path.isAbsolute(v)) return fail(`${key} must be the absolute path of a PEM file, like /etc/ssl/private/service.pem, got '${clip(v)}'`);
  if (v.includes('\0')) return fail(`${key} must be a path without NUL characters`);
  return ok(v);
}

function whyNot(protocol: Protocol | null, wait: boolean, handler: Handler | null): string | null {
  if (protocol === null) return null; // already an error of its own
  if (protocol === 'unix') return 'TLS (tls_cert, tls_key) is for tcp services: put a TLS terminator in front of a unix socket';
  if (!protocol.startsWith('tcp')) return `TLS (tls_cert, tls_key) is for tcp services: a ${protocol} service would need DTLS, which superd does not do`;
  if (wait && handler?.kind === 'server') {
    return "TLS (tls_cert, tls_key) needs wait = no: superd completes the handshake before the handler starts, and a wait service's handler accepts its connections itself";
  }
  return null;
}
