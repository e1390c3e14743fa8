// A TLS service's files, read at every load (SPEC §2: a renewed certificate
// needs only a reload), for `superd check` and the daemon alike: a file that
// cannot be read or trusted (tls-path.ts), or does not parse, or a key that
// is not the certificate's, is an error at its key's line, and the file's
// services stay as they were (SPEC §4). What was read becomes the
// definition's `loaded`: the digest that tells a renewed certificate from
// the same one, and the secure context handshakes use.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { configError, type ConfigError } from '../errors.js';
import { clip } from './clip.js';
import type { LoadedFile } from './file.js';
import { FileProblems } from './problems.js';
import { readPem } from './tls-path.js';
import type { LoadedTls, ServiceDefinition, TlsSettings } from './types.js';

type FileKey = 'tls_cert' | 'tls_key' | 'tls_client_ca';
/** A problem with one of the files: the key whose line it is reported at. */
interface Problem {
  key: FileKey;
  message: string;
}

/**
 * The context with no enumerable state of its own: definitions compare
 * equal by digest alone (config/plan.ts), and printing one shows no key.
 */
class Context {
  readonly #context: SecureContext;
  constructor(context: SecureContext) {
    this.#context = context;
  }
  get secureContext(): SecureContext {
    return this.#context;
  }
}

export class TlsFiles {
  /** Each set of files is read once per load, however many services name it. */
  private readonly seen = new Map<string, Promise<LoadedTls | Problem>>();

  constructor(private readonly asRoot: boolean) {}

  /** The file's services with their TLS files read; a service whose files fail is an error, and left out. */
  async judge(loaded: LoadedFile): Promise<LoadedFile> {
    const { file, keyLines } = loaded;
    const bad: ConfigError[] = [];
    const services: ServiceDefinition[] = [];
    const serverLines = new Map(loaded.serverLines);
    for (const def of loaded.services) {
      if (def.tls === undefined || def.disabled) {
        services.push(def);
        continue;
      }
      const got = await this.read(def.tls);
      if ('key' in got) {
        bad.push(configError('bad_tls_file', file, keyLines.get(def)?.get(got.key) ?? def.origin.line, def.name, got.message));
        continue;
      }
      const withFiles: ServiceDefinition = { ...def, tls: { ...def.tls, loaded: got } };
      services.push(withFiles);
      const line = serverLines.get(def);
      if (line !== undefined) serverLines.set(withFiles, line);
    }
    if (bad.length === 0) return { ...loaded, services, serverLines };
    const errors = new FileProblems(file, 'error');
    [...loaded.errors, ...bad].forEach(errors.push);
    return { ...loaded, services, serverLines, errors: errors.list() };
  }

  private read(tls: TlsSettings): Promise<LoadedTls | Problem> {
    const id = JSON.stringify([tls.cert, tls.key, tls.clientCa, tls.minVersion]);
    let found = this.seen.get(id);
    if (found === undefined) {
      found = loadTls(tls, this.asRoot);
      this.seen.set(id, found);
    }
    return found;
  }
}

/** The files read, parsed and put together; or the first problem, at its key. */
export async function loadTls(tls: TlsSettings, asRoot: boolean): Promise<LoadedTls | Problem> {
  const cert = await readPem('tls_cert', tls.cert, asRoot, false);
  if (!cert.ok) return { key: 'tls_cert', message: cert.error };
  const key = await readPem('tls_key', tls.key, asRoot, true);
  if (!key.ok) return { key: 'tls_key', message: key.error };
  const ca = tls.clientCa === null ? null : await readPem('tls_client_ca', tls.clientCa, asRoot, false);
  if (ca !== null && !ca.ok) return { key: 'tls_client_ca', message: ca.error };
  const parsed = checkPem(tls, cert.data, key.data, ca?.data ?? null);
  if (parsed !== null) return parsed;
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: cert.data, key: key.data, ca: ca?.data, minVersion: tls.minVersion });
  } catch (e) {
    return { key: 'tls_key', message: `tls_cert '${tls.cert}' and tls_key '${tls.key}' cannot be used together: ${reason(e)}` };
  }
  const digest = createHash('sha256');
  for (const part of [cert.data, key.data, ca?.data ?? Buffer.alloc(0)]) digest.update(createHash('sha256').update(part).digest());
  return { digest: digest.digest('hex'), context: new Context(context) };
}

/** Each file on its own, so a problem is told at the key of the file that has it. */
function checkPem(tls: TlsSettings, cert: Buffer, key: Buffer, ca: Buffer | null): Problem | null {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    return { key: 'tls_cert', message: `tls_cert '${tls.cert}' holds no PEM certificate: ${reason(e)}` };
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    return { key: 'tls_key', message: `tls_key '${tls.key}' holds no usable PEM private key (an encrypted one cannot be used: superd asks for no passphrase): ${reason(e)}` };
  }
  if (!x509.checkPrivateKey(privateKey)) {
    return { key: 'tls_key', message: `tls_key '${tls.key}' is not the private key of the certificate in tls_cert '${tls.cert}' (${clip(x509.subject.replace(/\n/g, ', '))})` };
  }
  if (ca !== null) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      return { key: 'tls_client_ca', message: `tls_client_ca '${tls.clientCa ?? ''}' holds no PEM certificate: ${reason(e)}` };
    }
  }
  return null;
}

/** OpenSSL's words without its error codes: `error:0480006C:PEM routines::no start line` is `no start line`. */
function reason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return clip(message.replace(/^error:[0-9A-Fa-f]+:[^:]*::?/, ''));
}
