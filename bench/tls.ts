// The TLS rows (issue 28): `cat` behind TLS that the daemon terminates, superd (tls_cert,
// tls_key) against stunnel running the same handler per connection (`exec = /bin/cat`, its
// inetd-like mode). Each instance gets its own certificate, made by the openssl CLI in the
// instance's dir: ECDSA P-256 (certbot's default kind of key), for localhost.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serviceFileSuperd, type DaemonConfig, type Detected } from './configs.js';
import { dpkgVersion, which } from './host.js';
import type { ConfigArgs } from './peers.js';

/** A self-signed certificate and its key (0600) in dir; throws with openssl's words when it cannot. */
function benchCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'tls-cert.pem');
  const key = path.join(dir, 'tls-key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`openssl could not make the TLS rows' certificate: ${r.stderr}${r.error ?? ''}`);
  // superd as root refuses a key others can read (superd.conf(5), TLS); stunnel reads it as root too.
  fs.chmodSync(key, 0o600);
  fs.chmodSync(cert, 0o644);
  return { cert, key };
}

export function superdTls({ dir, port, det }: ConfigArgs): DaemonConfig {
  const { cert, key } = benchCert(dir);
  return serviceFileSuperd(dir, det, `[bench-tls]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\ntls_cert = ${cert}\ntls_key = ${key}\n`);
}

export function detectStunnel(): Detected | { reason: string } {
  const bin = which('stunnel4') ?? which('stunnel');
  if (!bin) return { reason: 'stunnel not found (apt-get install stunnel4)' };
  const v = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10000 });
  const ver = `${v.stdout}${v.stderr}`.match(/stunnel (\d[\d.]*)/)?.[1] ?? dpkgVersion('stunnel4') ?? '?';
  return { bin, exe: fs.realpathSync(bin), version: `stunnel ${ver}` };
}

/**
 * stunnel in the foreground with one service: it accepts on port, completes the handshake and
 * execs /bin/cat per connection with the plain side as its stdin/stdout, as superd does. Its
 * log (default level, notice: a line or two per connection, as superd's) goes to stderr,
 * which the harness keeps in the instance's dir.
 */
export function stunnelTls({ dir, port, det }: ConfigArgs): DaemonConfig {
  const { cert, key } = benchCert(dir);
  const conf = [
    "; written by superd's bench/run.ts",
    'foreground = yes',
    'pid =',
    'syslog = no',
    `cert = ${cert}`,
    `key = ${key}`,
    '[bench-tls]',
    `accept = 127.0.0.1:${port}`,
    'exec = /bin/cat',
    'execArgs = cat',
    '',
  ].join('\n');
  return { argv: [det.bin, path.join(dir, 'stunnel.conf')], exe: det.exe, files: { 'stunnel.conf': conf } };
}
