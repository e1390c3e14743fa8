// TLS termination (SPEC §2 tls_*, §3 SSL_*, §6 reason tls; issue 28) against
// real clients: Node's tls.connect and `openssl s_client`, with certificates
// the openssl CLI makes (helpers/tls.ts). The handler gets a plain stream:
// bytes both ways (binary, 10 MB each way), half-close both ways, the SSL_*
// variables (a client certificate's subject and hash too, none of them
// fakeable by `env`). Refused with reason tls: no client certificate where
// one is required, a certificate of another CA, an expired server
// certificate (the client's alert), a plain-text client, a handshake never
// started (tls_timeout); superd serves on after each. A renewed certificate
// is picked up by `superd reload` (updated, not rebound); a bad one keeps the
// old. A client that does not read while the handler writes 50 MB leaves
// superd's RSS flat. Every wait is bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { startServices, scratchDirs, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { runProgram, statusField } from './helpers/proc.js';
import { certFacts, makePki, type TestPki } from './helpers/tls.js';
import { eventually, within } from './helpers/wait.js';

const WAIT = 20000;

/** One line of what the handler was told, then the client's bytes back. */
const REPORT = {
  server: '/bin/sh',
  args: `-c 'printf "%s|%s|%s|%s|%s\\n" "$SSL_PROTOCOL" "$SSL_CIPHER" "\${SSL_TLS_SNI_SERVERNAME-unset}" "\${SSL_PEER_CERT_SUBJECT-unset}" "\${SSL_PEER_CERT_HASH-unset}"; exec cat'`,
};

/** The handler ends its output first (shutdown), then reads the client to its end and logs it (stderr = log). */
const HALF_CLOSE_HANDLER = `
const net = require('node:net');
const s = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
const got = [];
s.on('data', (d) => got.push(d));
s.on('end', () => process.stderr.write('got:' + Buffer.concat(got).toString().trim() + '\\n'));
s.end('banner\\n');
`;

const BIG = 50 * 1024 * 1024;

let pki: TestPki;
let d: DaemonHandle;
let port: Record<string, number>;
const dirs = scratchDirs('superd-tls-');

function services(p: TestPki, dir: string): Record<string, Record<string, string | number>> {
  const tls = { bind: '127.0.0.1', tls_cert: p.server.cert, tls_key: p.server.key };
  return {
    report: { ...REPORT, ...tls, env: 'SSL_PROTOCOL=forged SSL_PEER_CERT_SUBJECT=/CN=forged SSL_PEER_CERT_HASH=00' },
    cat: { server: '/bin/cat', ...tls },
    mtls: { ...REPORT, ...tls, tls_client_ca: p.ca.cert, tls_min_version: 'TLSv1.3' },
    half: { server: process.execPath, args: join(dir, 'half.cjs'), ...tls },
    expired: { server: '/bin/cat', bind: '127.0.0.1', tls_cert: p.expired.cert, tls_key: p.expired.key },
    slow: { server: '/bin/cat', ...tls, tls_timeout: 1 },
    echo: { builtin: 'echo', ...tls },
    only: { server: '/bin/cat', ...tls, only_from: '192.0.2.1' },
    big: { server: '/bin/sh', args: `-c 'exec head -c ${BIG} /dev/zero'`, ...tls },
    line: { server: '/bin/sh', args: `-c 'read line; echo "got $line"'`, ...tls },
    renew: { server: '/bin/cat', bind: '127.0.0.1', tls_cert: join(dir, 'renew.pem'), tls_key: join(dir, 'renew.key') },
    v13: { server: '/bin/cat', ...tls, tls_min_version: 'TLSv1.3' },
  };
}

/** A TLS client that trusts the test CA and asks for localhost; resolves once its handshake is done. */
function connectTls(service: string, extra: ConnectionOptions = {}): Promise<TLSSocket> {
  return within(new Promise<TLSSocket>((resolve, reject) => {
    // allowHalfOpen: tls.connect passes it on to the socket, though its types do not list it.
    const options: ConnectionOptions & { allowHalfOpen: boolean } = { host: '127.0.0.1', port: port[service], servername: 'localhost', ca: caPem, allowHalfOpen: true, ...extra };
    const s = tlsConnect(options);
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  }), WAIT, `TLS handshake with ${service}`);
}

/** Everything the socket gives until its end (or close). */
function readAll(s: Socket, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return within(new Promise<Buffer>((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('close', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  }), WAIT, what);
}

/** The local ports of attempt()'s clients, latest last: superd's log names each as remote_port. */
const attemptPorts: number[] = [];

/** How a TLS client's attempt ended: 'secure', or the error it got. */
function attempt(service: string, extra: ConnectionOptions = {}): Promise<string> {
  return within(new Promise<string>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: port[service], servername: 'localhost', ca: caPem, ...extra });
    s.once('connect', () => attemptPorts.push(s.localPort ?? 0));
    s.once('secureConnect', () => {
      // TLS 1.3: the server judges the client's certificate after the client's handshake is done; it then closes.
      s.once('close', () => resolve('secure, then closed'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(`secure, then ${e.code ?? e.message}`));
      s.resume();
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  }), WAIT, `attempt on ${service}`);
}

const refusedTls = (service: string, message: RegExp) => (r: LogRecord): boolean =>
  r.event === 'refused' && r.reason === 'tls' && r.service === service && message.test(String(r.message));

let caPem: Buffer;

/** The handler's first line (split at '|') and the rest. */
async function reportOf(s: TLSSocket, send: Buffer): Promise<{ fields: string[]; rest: Buffer }> {
  const all = readAll(s, 'the handler report');
  s.end(send);
  const got = await all;
  const nl = got.indexOf(0x0a);
  assert.ok(nl > 0, `no report line: ${got.toString()}`);
  return { fields: got.subarray(0, nl).toString().split('|'), rest: got.subarray(nl + 1) };
}

/** The serve-everything-still check: a fresh client on `cat` gets its bytes back. */
async function stillServing(): Promise<void> {
  const s = await connectTls('cat');
  const all = readAll(s, 'cat after a refusal');
  s.end('still here\n');
  assert.equal((await all).toString(), 'still here\n');
}

describe('serve: TLS termination', () => {
  before(async () => {
    const dir = await dirs();
    pki = await makePki(dir);
    caPem = await readFile(pki.ca.cert);
    await writeFile(join(dir, 'half.cjs'), HALF_CLOSE_HANDLER);
    await copyFile(pki.server.cert, join(dir, 'renew.pem'));
    await copyFile(pki.server.key, join(dir, 'renew.key'));
    ({ d, port } = await startServices(services(pki, dir)));
  });
  after(async () => {
    await d?.stop();
  });

  test('10 MB of random bytes each way through /bin/cat, compared by hash; the client half-closes, the handler answers to the end', async () => {
    const payload = randomBytes(10 * 1024 * 1024);
    const s = await connectTls('cat');
    const all = readAll(s, '10 MB back');
    s.end(payload);
    const back = await all;
    assert.equal(back.length, payload.length);
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(payload).digest('hex'));
    await d.waitFor((r) => r.event === 'exited' && r.service === 'cat' && r.code === 0, 'cat exited 0', WAIT);
  });

  test('the handler ends its output first (close_notify), then still reads what the client sends after', async () => {
    const s = await connectTls('half');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    await within(new Promise((resolve) => s.once('end', resolve)), WAIT, "the handler's end of output");
    assert.equal(Buffer.concat(chunks).toString(), 'banner\n');
    s.end('after the close\n');
    await d.waitFor((r) => r.event === 'stderr' && r.service === 'half' && r.message === 'got:after the close', 'what the handler read after its own end', WAIT);
  });

  test('SSL_PROTOCOL, SSL_CIPHER, SSL_TLS_SNI_SERVERNAME; no peer variables without a client certificate, whatever `env` says', async () => {
    const s = await connectTls('report');
    const [protocol, cipher] = [s.getProtocol(), s.getCipher().name];
    const { fields, rest } = await reportOf(s, Buffer.from('ping\n'));
    assert.deepEqual(fields.slice(0, 2), [protocol, cipher]);
    assert.deepEqual(fields.slice(2), ['localhost', 'unset', 'unset']);
    assert.equal(rest.toString(), 'ping\n');
  });

  test('no SNI: SSL_TLS_SNI_SERVERNAME unset', async () => {
    const s = await connectTls('report', { servername: '', checkServerIdentity: () => undefined });
    const { fields } = await reportOf(s, Buffer.from('x\n'));
    assert.equal(fields[2], 'unset');
  });

  test('a client certificate: its subject and SHA-256 (of the DER, hex) as the handler sees them', async () => {
    const s = await connectTls('mtls', { cert: await readFile(pki.client.cert), key: await readFile(pki.client.key) });
    const cipher = s.getCipher().name;
    const { fields, rest } = await reportOf(s, Buffer.from('hi\n'));
    const { hash } = await certFacts(pki.client.cert);
    assert.deepEqual(fields, ['TLSv1.3', cipher, 'localhost', '/O=superd tests/CN=client one', hash]);
    assert.equal(rest.toString(), 'hi\n');
  });

  test('tls_client_ca: no certificate, or one of another CA, is refused (reason tls); nothing starts', async () => {
    const none = await attempt('mtls');
    assert.notEqual(none, 'secure, then closed', 'the server told the client it wants a certificate');
    const first = attemptPorts.at(-1);
    await d.waitFor((r) => refusedTls('mtls', /certificate/)(r) && r.remote_port === first, 'refused: no client certificate', WAIT);
    await attempt('mtls', { cert: await readFile(pki.stranger.cert), key: await readFile(pki.stranger.key) });
    const second = attemptPorts.at(-1);
    await d.waitFor((r) => refusedTls('mtls', /client certificate refused: [A-Z_]+/)(r) && r.remote_port === second, 'refused: a stranger certificate', WAIT);
    assert.equal(d.logs.some((r) => r.event === 'accepted' && (r.remote_port === first || r.remote_port === second)), false, 'no handler started for them');
    await stillServing();
  });

  test('an expired server certificate: openssl s_client refuses it, superd logs refused reason=tls', async () => {
    const r = await runProgram('openssl', ['s_client', '-connect', `127.0.0.1:${port.expired}`, '-CAfile', pki.ca.cert, '-servername', 'localhost', '-verify_return_error'], { timeoutMs: WAIT });
    assert.notEqual(r.code, 0);
    assert.match(`${r.stdout}${r.stderr}`, /certificate has expired/);
    await d.waitFor(refusedTls('expired', /expired/), 'refused: the client said the certificate expired', WAIT);
    // A Node client refuses it too (after its handshake: it judges the certificate then).
    assert.match(await attempt('expired'), /CERT_HAS_EXPIRED/);
    await stillServing();
  });

  test('openssl s_client: a line in, the answer out, the session closed by the handler\'s exit', async () => {
    const r = await runProgram('/bin/sh', ['-c', `printf 'hello\\n' | openssl s_client -quiet -connect 127.0.0.1:${port.line} -CAfile ${pki.ca.cert} -servername localhost -verify_return_error`], { timeoutMs: WAIT });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'got hello\n');
  });

  test('a plain-text client is refused (reason tls) and superd serves on', async () => {
    const c = netConnect(port.cat as number, '127.0.0.1');
    const closed = readAll(c, 'the plain-text client closed');
    c.write('hello, no TLS here\r\n');
    await closed;
    await d.waitFor(refusedTls('cat', /TLS handshake failed/), 'refused: not TLS', WAIT);
    await stillServing();
  });

  test('a handshake never started: refused after tls_timeout (1 s), the connection closed', async () => {
    const c = netConnect(port.slow as number, '127.0.0.1');
    const closed = readAll(c, 'closed after tls_timeout');
    await closed;
    await d.waitFor(refusedTls('slow', /no TLS handshake within tls_timeout \(1 s\)/), 'refused: timeout', WAIT);
  });

  test('only_from refuses before any handshake (reason only_from); tls_min_version refuses an older client (reason tls)', async () => {
    assert.doesNotMatch(await attempt('only'), /^secure/);
    await d.waitFor((r) => r.event === 'refused' && r.service === 'only' && r.reason === 'only_from', 'refused: only_from', WAIT);
    assert.equal(d.logs.some((r) => r.event === 'refused' && r.service === 'only' && r.reason === 'tls'), false);
    assert.doesNotMatch(await attempt('v13', { maxVersion: 'TLSv1.2' }), /^secure/);
    await d.waitFor(refusedTls('v13', /unsupported protocol/), 'refused: TLS 1.2 where 1.3 is the least', WAIT);
  });

  test('a builtin over TLS: echo answers on the session itself', async () => {
    const s = await connectTls('echo');
    const all = readAll(s, 'echo');
    s.end('echo me\n');
    assert.equal((await all).toString(), 'echo me\n');
  });

  test('a renewed certificate is picked up by reload (the service updated, not rebound); a bad one keeps the old', async () => {
    const serial = async (): Promise<string> => {
      const s = await connectTls('renew');
      const x = s.getPeerX509Certificate();
      s.destroy();
      return x?.serialNumber ?? '';
    };
    const dir = pki.dir;
    assert.equal(await serial(), (await certFacts(pki.server.cert)).serial);
    const listening = d.logs.filter((r) => r.event === 'listening' && r.service === 'renew').length;
    await copyFile(pki.renewed.cert, join(dir, 'renew.pem.new'));
    await copyFile(pki.renewed.key, join(dir, 'renew.key.new'));
    await rename(join(dir, 'renew.pem.new'), join(dir, 'renew.pem'));
    await rename(join(dir, 'renew.key.new'), join(dir, 'renew.key'));
    const summary = await d.reload();
    assert.equal(summary.errors, 0, JSON.stringify(summary));
    assert.ok(Number(summary.changed) >= 1, JSON.stringify(summary));
    assert.equal(await serial(), (await certFacts(pki.renewed.cert)).serial);
    // A key that is not the certificate's: an error at the file's line, the service keeps its certificate.
    await copyFile(pki.client.key, join(dir, 'renew.key'));
    const bad = await d.reload();
    assert.equal(bad.errors, 1);
    await d.waitFor((r) => r.event === 'config_error' && /renew\.conf$/.test(String(r.file)) && /is not the private key of the certificate/.test(String(r.message)), 'config_error about the key', WAIT);
    assert.equal(await serial(), (await certFacts(pki.renewed.cert)).serial);
    assert.equal(d.logs.filter((r) => r.event === 'listening' && r.service === 'renew').length, listening, 'never rebound');
  });

  test('a client that does not read while the handler writes 50 MB: superd buffers nothing much (RSS flat), then all 50 MB arrive', async (t) => {
    const rss = async (): Promise<number> => Number((await statusField(d.pid, 'VmRSS'))?.replace(/\D/g, '') ?? 0) * 1024;
    const base = await rss();
    const s = await connectTls('big');
    s.pause();
    const accepted = await d.waitFor((r) => r.event === 'accepted' && r.service === 'big', 'big accepted', WAIT);
    const pid = Number(accepted.pid);
    // The handler's writes stop once every buffer on the way is full: its write count stands still.
    let last = -1;
    const stalled = await eventually(async () => {
      const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
      const written = Number(/wchar: (\d+)/.exec(io)?.[1] ?? -2);
      const still = written === last && written > 0;
      last = written;
      return still;
    }, WAIT, 300);
    assert.ok(stalled, `the handler's writes never stalled (wrote ${last} bytes)`);
    assert.ok(last < BIG, `the handler wrote everything (${last}) while the client read nothing`);
    const grown = (await rss()) - base;
    t.diagnostic(`the handler stalled after ${last} bytes; superd's RSS grew by ${Math.round(grown / 1024)} KiB`);
    assert.ok(grown < 25 * 1024 * 1024, `superd's RSS grew by ${grown} bytes while the client did not read`);
    let total = 0;
    s.on('data', (c: Buffer) => (total += c.length));
    s.resume();
    await within(new Promise((resolve) => s.once('end', resolve)), 60000, '50 MB read');
    assert.equal(total, BIG);
  });
});
