// Socket activation (SPEC §4, sd_listen_fds(3)): superd started with sockets
// already bound for it — by systemd-socket-activate, as systemd does, and by
// a hand-built environment (the test binds, superd gets them as fd 3…) —
// adopts each for the service it matches, never binds that address itself,
// keeps the socket across a reload that removes the service and adds it back,
// closes the ones no service matches, and never lets a handler see the
// variables or the descriptors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, closeSync, fstatSync, openSync } from 'node:fs';
import { chmod, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts, holdConnection, tryConnect } from './helpers/clients.js';
import { scratchDirs, serviceFile, startDaemon, WAIT_MS, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { udpExchange } from './helpers/udp.js';
import { eventually } from './helpers/wait.js';
import { unixExchange } from './helpers/unix.js';
import { bindInet, bindUnix, type SysSocket } from '../src/sys/sockets.js';
import { SysError } from '../src/sys/errors.js';
import { loadSys } from '../src/sys/load.js';
import { AF_INET, O_CLOEXEC, SOCK_STREAM } from '../src/sys/constants.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';

/** Prints its environment, then the numbers of its open descriptors. */
const ENV_AND_FDS = { server: '/bin/sh', args: `-c 'env; echo FDS; ls /proc/$$/fd'`, pass_env: 'LISTEN_FDS LISTEN_PID LISTEN_FDNAMES' };

/** A tcp wait handler: accepts on the listening socket it got as fd 0, answers `wait PROTO`, exits once idle. */
const ACCEPTING_HANDLER = `
const net = require('node:net');
let idle = null;
const arm = () => { clearTimeout(idle); idle = setTimeout(() => process.exit(0), 1000); };
const server = net.createServer((c) => { arm(); c.end('wait ' + process.env.PROTO + '\\n'); });
server.listen({ fd: 0 }, arm);
`;

const adoptedBy = (service: string) => (r: LogRecord): boolean => r.event === 'listening' && r.service === service && r.from === 'systemd';

function assertHandlerSawNothing(output: string): void {
  const [env = '', fds = ''] = output.split('FDS\n');
  assert.doesNotMatch(env, /LISTEN_/, `a handler saw a socket activation variable:\n${env}`);
  const numbers = fds.split('\n').filter((l) => l !== '').map(Number);
  assert.ok(numbers.length >= 3, `no descriptor list in:\n${output}`);
  assert.deepEqual(numbers.filter((n) => n > 2), [], `a handler inherited descriptors beyond 0-2:\n${fds}`);
}

const dirs = scratchDirs('superd-activation-');

describe('socket activation: systemd-socket-activate', { skip: existsSync(ACTIVATE) ? false : `${ACTIVATE} is not installed (package systemd)` }, () => {
  test('adopts by address and by name, serves, hides the variables, keeps the socket across a reload, closes the unmatched', async () => {
    const [echoPort, envPort, strayPort] = (await freePorts(3)) as [number, number, number];
    const d: DaemonHandle = await startDaemon({
      services: {
        'echo.conf': serviceFile('echo', { protocol: 'tcp', bind: '127.0.0.1', port: echoPort, builtin: 'echo' }),
        // Named after its socket: a port of its own would not matter.
        'envshow.conf': serviceFile('envshow', { protocol: 'tcp', bind: '127.0.0.1', port: envPort, ...ENV_AND_FDS }),
      },
      // Binds, waits for the first client, then execs superd (same pid) with LISTEN_FDS=3.
      launcher: [ACTIVATE, '-l', `127.0.0.1:${echoPort}`, '-l', `127.0.0.1:${envPort}`, '-l', `127.0.0.1:${strayPort}`, '--fdname=unknown:envshow:stray', '--'],
      waitStarted: false,
    });
    try {
      // Once it listens, the first client starts superd; it waits in the backlog meanwhile.
      assert.ok(await eventually(() => d.otherStderr.some((l) => l.includes(' as 5.')), WAIT_MS), `${ACTIVATE} did not listen: ${d.otherStderr.join('\n')}`);
      const first = exchange(echoPort, 'first client', { timeoutMs: WAIT_MS });
      await d.waitFor((r) => r.event === 'started', 'started');
      assert.equal((await first).data.toString(), 'first client');
      const echo = await d.waitFor(adoptedBy('echo'), 'echo adopted');
      assert.equal(echo.fd, 3);
      assert.equal(echo.address, `127.0.0.1:${echoPort}/tcp`);
      const env = await d.waitFor(adoptedBy('envshow'), 'envshow adopted');
      assert.deepEqual([env.fd, env.fdname], [4, 'envshow']);

      // Matched by no service: logged and closed (nobody listens there any more).
      const stray = await d.waitFor((r) => r.event === 'socket_unused', 'socket_unused');
      assert.deepEqual([stray.fd, stray.name, stray.address], [5, 'stray', `127.0.0.1:${strayPort}/tcp4`]);
      assert.equal(await tryConnect(strayPort), 'ECONNREFUSED');

      assertHandlerSawNothing((await exchange(envPort, '', { timeoutMs: WAIT_MS })).data.toString());

      // Removed: the socket stays open in the pool, a client waits in its backlog…
      await d.removeService('echo.conf');
      await d.reload();
      await d.waitFor((r) => r.event === 'removed' && r.service === 'echo', 'echo removed');
      const waiting = await holdConnection(echoPort);
      waiting.send('waited in the backlog');
      waiting.socket.end();
      // …and is served once the service is back, on the same socket.
      await d.writeService('echo.conf', serviceFile('echo', { protocol: 'tcp', bind: '127.0.0.1', port: echoPort, builtin: 'echo' }));
      await d.reload();
      const again = await d.waitForCount(adoptedBy('echo'), 2, 'echo adopted again');
      assert.equal(again[1]?.fd, 3);
      await waiting.waitForData('waited in the backlog', WAIT_MS);
      assert.equal((await exchange(echoPort, 'after', { timeoutMs: WAIT_MS })).data.toString(), 'after');

      // Changed into another kind of listener on the same address: the replacement is given the same socket.
      await d.writeService('echo.conf', serviceFile('echo', { protocol: 'tcp', bind: '127.0.0.1', port: echoPort, server: '/bin/cat' }));
      await d.reload();
      assert.equal((await d.waitForCount(adoptedBy('echo'), 3, 'echo adopted by its replacement'))[2]?.fd, 3);
      assert.equal((await exchange(echoPort, 'by cat', { timeoutMs: WAIT_MS })).data.toString(), 'by cat');
      assert.deepEqual(d.logs.filter((r) => r.event === 'bind_failed'), [], 'superd bound an adopted address itself');
    } finally {
      await d.stop();
    }
  });
});

describe('socket activation: a hand-built environment', () => {
  /** Sockets the test binds itself, passed to superd as fd 3, 4…; the test's copies closed once superd has them. */
  async function startWith(sockets: number[], names: string[], services: Record<string, string>, listenPid = '$$'): Promise<DaemonHandle> {
    try {
      return await startDaemon({
        services,
        passFds: sockets,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LISTEN_FDS: String(sockets.length), LISTEN_FDNAMES: names.join(':') },
        // LISTEN_PID must be superd's own pid: the shell's, which exec keeps.
        launcher: ['/bin/sh', '-c', `export LISTEN_PID=${listenPid}; exec "$@"`, 'sh'],
      });
    } finally {
      for (const fd of sockets) closeSync(fd);
    }
  }

  const made = <T extends SysSocket>(s: T | SysError): T => (s instanceof SysError ? assert.fail(s.message) : s);

  test('tcp, udp, unix and a wait service adopt theirs; a descriptor that is no socket is logged and closed', async () => {
    const dir = await dirs();
    const path = join(dir, 'cat.sock');
    const tcp = made(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }));
    const udp = made(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }));
    const unix = made(bindUnix({ path }));
    const wait = made(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }));
    await chmod(path, 0o600);
    const script = join(dir, 'accepting.cjs');
    await writeFile(script, ACCEPTING_HANDLER, { mode: 0o644 });
    const devNull = openSync('/dev/null', 'r');
    // Sockets superd cannot serve on: a tcp socket that does not listen, a unix datagram socket.
    const sys = loadSys();
    if (sys instanceof SysError) return assert.fail(sys.message);
    const idle = sys.socket(AF_INET, SOCK_STREAM | O_CLOEXEC, 0);
    const pair = sys.socketpair() ?? assert.fail('socketpair');
    closeSync(pair[1]);
    const unusable = [idle, pair[0]].map((fd) => fstatSync(fd).ino);
    const d = await startWith([tcp.fd, udp.fd, unix.fd, wait.fd, devNull, idle, pair[0]], ['unknown', 'unknown', 'unknown', 'tcpwait', 'junk', 'idle', 'dgram'], {
      'tcp.conf': serviceFile('tcpecho', { protocol: 'tcp', bind: '127.0.0.1', port: tcp.localPort, builtin: 'echo' }),
      'udp.conf': serviceFile('udpecho', { protocol: 'udp4', port: udp.localPort, bind: '127.0.0.1', builtin: 'echo' }),
      'unix.conf': serviceFile('unixcat', { protocol: 'unix', path, server: '/bin/cat' }),
      // Adopted by name: the port it names is not the socket's.
      'wait.conf': serviceFile('tcpwait', { protocol: 'tcp', bind: '127.0.0.1', port: 1, wait: 'yes', server: process.execPath, args: script }),
    });
    try {
      for (const [service, fd] of [['tcpecho', 3], ['udpecho', 4], ['unixcat', 5], ['tcpwait', 6]] as const) {
        assert.equal((await d.waitFor(adoptedBy(service), `${service} adopted`)).fd, fd);
      }
      const junk = await d.waitForCount((r) => r.event === 'socket_unusable', 3, 'socket_unusable');
      assert.deepEqual(junk.map((r) => [r.fd, r.name]), [[7, 'junk'], [8, 'idle'], [9, 'dgram']]);
      assert.match(String(junk[0]?.message), /not a socket/);
      assert.match(String(junk[1]?.message), /not listening/);
      assert.match(String(junk[2]?.message), /unix datagram/);
      // Closed: no descriptor of superd is either socket any more.
      const links = await Promise.all((await readdir(`/proc/${d.pid}/fd`)).map((n) => readlink(`/proc/${d.pid}/fd/${n}`).catch(() => '')));
      for (const ino of unusable) assert.ok(!links.includes(`socket:[${ino}]`), `superd still holds socket ${ino}: ${links.join(' ')}`);

      assert.equal((await exchange(tcp.localPort, 'tcp bytes', { timeoutMs: WAIT_MS })).data.toString(), 'tcp bytes');
      assert.equal((await udpExchange(udp.localPort, 'udp bytes', { timeoutMs: WAIT_MS }))?.toString(), 'udp bytes');
      assert.equal((await unixExchange(path, 'unix bytes', { timeoutMs: WAIT_MS })).data.toString(), 'unix bytes');
      assert.equal((await exchange(wait.localPort, '', { timeoutMs: WAIT_MS })).data.toString(), 'wait TCP\n');
      assert.deepEqual(d.logs.filter((r) => r.event === 'bind_failed'), []);
    } finally {
      await d.stop();
    }
    // systemd's file: superd neither chmods nor removes it.
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  test('LISTEN_PID not superd\'s: nothing adopted, and the variables still never reach a handler', async () => {
    const [port] = (await freePorts(1)) as [number];
    const tcp = made(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }));
    const d = await startWith([tcp.fd], ['clash'], {
      // The socket's own address, but not passed to superd: binding it itself fails.
      'clash.conf': serviceFile('clash', { protocol: 'tcp', bind: '127.0.0.1', port: tcp.localPort, builtin: 'echo' }),
      'envshow.conf': serviceFile('envshow', { protocol: 'tcp', bind: '127.0.0.1', port, ...ENV_AND_FDS }),
    }, '1');
    try {
      await d.waitFor((r) => r.event === 'bind_failed' && r.service === 'clash', 'clash bind_failed');
      assert.deepEqual(d.logs.filter((r) => r.from === 'systemd' || r.event === 'socket_unused'), []);
      await d.waitFor((r) => r.event === 'listening' && r.service === 'envshow', 'envshow listening');
      assertHandlerSawNothing((await exchange(port, '', { timeoutMs: WAIT_MS })).data.toString());
    } finally {
      await d.stop();
    }
  });
});
