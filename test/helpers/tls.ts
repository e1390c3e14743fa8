// Certificates for the TLS tests, made in a temp dir by the openssl CLI:
// a CA, server certificates it signs for localhost and 127.0.0.1 (a fresh
// one, a renewal with another serial, an expired one made with `openssl ca`
// and explicit dates, since openssl 3.0's x509 has no -not_after), and a
// client certificate. EC P-256 keys: quick to make. Keys are written 0600,
// as superd insists when it runs as root. Each run is bounded.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProgram } from './proc.js';

export interface Pem {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: Pem;
  server: Pem;
  /** Same subject and key kind as `server`, another serial: a renewal. */
  renewed: Pem;
  /** Valid from 2020-01-01 to 2020-01-02 only. */
  expired: Pem;
  client: Pem;
  /** Signed by a CA the service does not know. */
  stranger: Pem;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await runProgram('openssl', args, { cwd, timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

async function key(dir: string, name: string): Promise<string> {
  const file = join(dir, `${name}.key`);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  await chmod(file, 0o600);
  return file;
}

async function selfSigned(dir: string, name: string, cn: string): Promise<Pem> {
  const k = await key(dir, name);
  const cert = join(dir, `${name}.pem`);
  await openssl(['req', '-x509', '-new', '-key', k, '-subj', `/CN=${cn}`, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert], dir);
  return { cert, key: k };
}

/** A certificate `ca` signs (serial as given, hex), with the extensions in `ext`. */
async function signed(dir: string, ca: Pem, name: string, subject: string, serial: string, ext: string): Promise<Pem> {
  const k = await key(dir, name);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['req', '-new', '-key', k, '-subj', subject, '-out', csr], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${serial}`, '-days', '825', '-sha256', '-extfile', extFile, '-out', cert], dir);
  return { cert, key: k };
}

const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n';

/** A server certificate valid only on 2020-01-01: `openssl ca` takes explicit dates where x509 does not. */
async function expired(dir: string, ca: Pem): Promise<Pem> {
  const home = join(dir, 'ca-db');
  await mkdir(join(home, 'new'), { recursive: true });
  await writeFile(join(home, 'index.txt'), '');
  await writeFile(join(home, 'serial'), '0E\n');
  const config = join(home, 'ca.cnf');
  await writeFile(config, [
    '[ca]', 'default_ca = here', '[here]', `database = ${join(home, 'index.txt')}`, `new_certs_dir = ${join(home, 'new')}`,
    `serial = ${join(home, 'serial')}`, 'default_md = sha256', 'policy = any', 'x509_extensions = server', 'unique_subject = no',
    '[any]', 'commonName = supplied', '[server]', 'subjectAltName = DNS:localhost,IP:127.0.0.1', '',
  ].join('\n'));
  const k = await key(dir, 'expired');
  const csr = join(dir, 'expired.csr');
  const cert = join(dir, 'expired.pem');
  await openssl(['req', '-new', '-key', k, '-subj', '/CN=localhost', '-out', csr], dir);
  await openssl(['ca', '-batch', '-config', config, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert, '-notext', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'], dir);
  return { cert, key: k };
}

/** Every certificate the TLS tests use, made in `dir` (mode 0700, as tempDir makes it). */
export async function makePki(dir: string): Promise<TestPki> {
  const ca = await selfSigned(dir, 'ca', 'superd test CA');
  const other = await selfSigned(dir, 'other-ca', 'another CA');
  return {
    dir,
    ca,
    server: await signed(dir, ca, 'server', '/CN=localhost', '0A01', SERVER_EXT),
    renewed: await signed(dir, ca, 'renewed', '/CN=localhost', '0B02', SERVER_EXT),
    expired: await expired(dir, ca),
    client: await signed(dir, ca, 'client', '/O=superd tests/CN=client one', '0C03', CLIENT_EXT),
    stranger: await signed(dir, other, 'stranger', '/CN=stranger', '0D04', CLIENT_EXT),
  };
}

/** The certificate's SHA-256 over its DER, hex, and its serial (hex, as X509Certificate gives it). */
export async function certFacts(file: string): Promise<{ hash: string; serial: string }> {
  const x = new X509Certificate(await readFile(file));
  return { hash: x.fingerprint256.replace(/:/g, '').toLowerCase(), serial: x.serialNumber };
}
