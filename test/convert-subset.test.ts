// The promise of `superd convert`, checked against the real xinetd: for
// every service, the set of (address, source) pairs the converted service
// accepts is a subset of what xinetd accepted from the original file. xinetd
// (linked with libwrap, as Debian builds it) serves the original files,
// with its own hosts.allow and hosts.deny bind-mounted over /etc's in a
// private mount namespace; superd serves the conversion of the same files
// and tables. Each service is asked from sources all over 127.0.0.0/8.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePorts } from './helpers/clients.js';
import { runSuperd, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { eventually } from './helpers/wait.js';

const XINETD = '/usr/sbin/xinetd';
const why = !existsSync(XINETD)
  ? `${XINETD} is not installed`
  : process.getuid?.() !== 0
    ? 'xinetd runs in a private mount namespace, which needs root'
    : null;

const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.9.9', '127.1.0.1', '127.1.2.3', '127.2.0.1', '127.255.0.1', '127.255.255.254'];

/** Each service: its xinetd attributes besides the common ones, and whom xinetd is expected to let in. */
const SERVICES: Record<string, { attrs: string[]; xinetd: string[] }> = {
  // `=` again replaces the list: only 127.1.0.0/16.
  repeated: { attrs: ['only_from = 0.0.0.0/0', 'only_from = 127.1.0.0/16'], xinetd: ['127.1.0.1', '127.1.2.3'] },
  appended: { attrs: ['only_from = 0.0.0.0/0', 'only_from = 127.0.0.2', 'only_from += 127.0.0.3'], xinetd: ['127.0.0.2', '127.0.0.3'] },
  refused: { attrs: ['no_access = 127.0.0.2', 'no_access = 127.1.0.0/16'], xinetd: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.9.9', '127.2.0.1'] },
  // libwrap names the daemon hosts.allow speaks of.
  wrapped: { attrs: ['libwrap = wrapd'], xinetd: ['127.0.0.1', '127.0.0.2', '127.0.9.9', '127.1.0.1', '127.1.2.3'] },
  both: { attrs: ['only_from = 127.0.0.0/8', 'no_access = 127.0.0.2', 'libwrap = bothd'], xinetd: ['127.0.0.3', '127.1.0.1', '127.1.2.3'] },
  nolibwrap: { attrs: ['libwrap = wrapd', 'flags = NOLIBWRAP'], xinetd: SOURCES },
  // A trailing comment: xinetd drops per_source, and reads '#' and 'office' as hosts that fail to parse.
  commented: { attrs: ['per_source = 10 # at most', 'only_from = 127.0.0.0/16 # office'], xinetd: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.9.9'] },
  // xinetd drops `disable = yes # …` and serves it; the conversion may only be narrower.
  offcomment: { attrs: ['disable = yes # until monday'], xinetd: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.9.9', '127.1.0.1', '127.1.2.3', '127.2.0.1'] },
  // A comma: xinetd disables the service.
  comma: { attrs: ['only_from = 127.0.0.1,127.0.0.2'], xinetd: [] },
  // twist sends its own answer instead of the service's.
  twisted: { attrs: ['libwrap = twistd'], xinetd: ['127.0.0.1', '127.0.0.3', '127.0.9.9', '127.1.0.1', '127.1.2.3', '127.2.0.1'] },
  // A name: xinetd resolves localhost, superd does not.
  named: { attrs: ['only_from = 127.0.0.2 localhost'], xinetd: ['127.0.0.1', '127.0.0.2'] },
};

const HOSTS_ALLOW = [
  '# superd convert test',
  'wrapd: 127.0.0.0/255.255.0.0 127.1. EXCEPT 127.0.0.3',
  'bothd: 127.0.0.2 127.0.0.3 127.1.',
  'twistd: 127.0.0.2: twist /bin/echo twisted',
  '',
].join('\n');
// Every service but wrapd refuses 127.255.0.0/16; wrapd and bothd refuse the rest.
const HOSTS_DENY = ['ALL EXCEPT wrapd: 127.255.0.0/16', 'wrapd bothd: ALL', ''].join('\n');

/** What `source` gets from 127.0.0.1:port: `served` when the handler ran, else what it saw. */
function ask(port: number, source: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port, localAddress: source });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`timeout: ${Buffer.concat(chunks).toString()}`);
    }, 10000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString().trim());
    });
  });
}

describe('a converted service accepts no (address, source) pair xinetd did not', { skip: why ?? false, timeout: 180000 }, () => {
  let dir = '';
  let xinetd: ChildProcess | undefined;
  let d: DaemonHandle | undefined;
  const xPort = new Map<string, number>();
  const sPort = new Map<string, number>();
  let converted = '';

  before(async () => {
    dir = await tempDir('superd-convert-subset-');
    const names = Object.keys(SERVICES);
    const ports = await freePorts(2 * names.length);
    const src = join(dir, 'xinetd.d');
    await mkdir(src);
    for (const [i, name] of names.entries()) {
      xPort.set(name, ports[2 * i] as number);
      sPort.set(name, ports[2 * i + 1] as number);
      const own = SERVICES[name]?.attrs ?? [];
      await writeFile(join(src, name), [
        `service ${name}`, '{', '\ttype = UNLISTED', '\tsocket_type = stream', '\twait = no', '\tuser = root',
        '\tserver = /bin/echo', '\tserver_args = served', '\tbind = 127.0.0.1', `\tport = ${xPort.get(name) as number}`,
        ...own.map((a) => `\t${a}`), '}', '',
      ].join('\n'));
    }
    await writeFile(join(dir, 'hosts.allow'), HOSTS_ALLOW);
    await writeFile(join(dir, 'hosts.deny'), HOSTS_DENY);

    const r = await runSuperd(['convert', src], { timeoutMs: 30000, env: { ...process.env, SUPERD_HOSTS_ALLOW: join(dir, 'hosts.allow'), SUPERD_HOSTS_DENY: join(dir, 'hosts.deny') } });
    assert.equal(r.code, 0, r.stderr);
    // Only the ports change, so both daemons can serve side by side.
    converted = r.stdout.replace(/^\[([A-Za-z0-9_-]+)\]$([\s\S]*?)^port = \d+$/gm, (_m, name: string, between: string) => `[${name}]${between}port = ${sPort.get(name) ?? 0}`);
    d = await startDaemon({ services: { 'converted.conf': converted } });

    const log = join(dir, 'xinetd.log');
    const script = `mount --make-rprivate / && mount --bind "$1" /etc/hosts.allow && mount --bind "$2" /etc/hosts.deny && exec ${XINETD} -dontfork -filelog "$3" -f "$4" -pidfile "$5"`;
    // One xinetd for every file: an includedir in a file of its own.
    await writeFile(join(dir, 'xinetd.conf'), `includedir ${src}\n`);
    xinetd = spawn('unshare', ['--mount', 'sh', '-c', script, 'sh', join(dir, 'hosts.allow'), join(dir, 'hosts.deny'), log, join(dir, 'xinetd.conf'), join(dir, 'xinetd.pid')], { stdio: 'ignore' });
    const started = await eventually(async () => /Started working/.test(await readFile(log, 'utf8').catch(() => '')), 15000, 50);
    assert.ok(started, `xinetd started; its log:\n${await readFile(log, 'utf8').catch(() => '(none)')}`);
  });

  after(async () => {
    xinetd?.kill('SIGKILL');
    await d?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  for (const [name, svc] of Object.entries(SERVICES)) {
    test(`[${name}] ${svc.attrs.join('; ')}`, async () => {
      const byXinetd: string[] = [];
      const bySuperd: string[] = [];
      for (const source of SOURCES) {
        if ((await ask(xPort.get(name) as number, source)) === 'served') byXinetd.push(source);
        if ((await ask(sPort.get(name) as number, source)) === 'served') bySuperd.push(source);
      }
      // xinetd's own answer first: the fixture means what its comment says.
      assert.deepEqual(byXinetd, svc.xinetd, `xinetd let in ${byXinetd.join(' ')}`);
      const wider = bySuperd.filter((s) => !byXinetd.includes(s));
      const section = converted.split('\n\n').find((b) => b.includes(`[${name}]`)) ?? '(no section)';
      assert.deepEqual(wider, [], `superd lets in ${wider.join(' ')}, whom xinetd refused; the conversion:\n${section}`);
    });
  }

  test('where nothing needed a name or a dropped attribute, superd lets in exactly whom xinetd did', async () => {
    for (const name of ['repeated', 'appended', 'refused', 'wrapped', 'both', 'nolibwrap', 'commented', 'twisted']) {
      const bySuperd: string[] = [];
      for (const source of SOURCES) if ((await ask(sPort.get(name) as number, source)) === 'served') bySuperd.push(source);
      assert.deepEqual(bySuperd, SERVICES[name]?.xinetd, `[${name}]`);
    }
  });
});
