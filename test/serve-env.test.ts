// What a handler gets (SPEC §3): its environment, argv, working directory,
// process group (and terminal: none), signal dispositions and descriptors. Every check
// runs twice: once as superd's own user, once with `user = nobody` (a handler
// that switches user may well be started another way inside superd, and must
// get exactly the same contract).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readlink } from 'node:fs/promises';
import { connectClient, type Client } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { notRoot, parseProcStat, procStat } from './helpers/proc.js';

const DAEMON_PATH = '/usr/local/bin:/usr/bin:/bin';

interface Variant {
  label: string;
  suffix: string;
  keys: Record<string, string>;
  /** Why the variant cannot run here, or false. */
  skip: string | false;
}
const VARIANTS: Variant[] = [
  { label: "superd's own user", suffix: '', keys: {}, skip: false },
  // Only root may start a handler as another user: superd refuses the service otherwise (needs_root).
  { label: 'user = nobody', suffix: '_nobody', keys: { user: 'nobody' }, skip: notRoot('only root may start a handler as nobody') },
];

/** service base name -> keys (without port) */
const SERVICES: Record<string, Record<string, string>> = {
  envdump: {
    server: '/usr/bin/env',
    pass_env: 'KEEP MISSING_VAR OVERRIDDEN',
    env: `A="with spaces" B='it'"'"'s "quoted"' C=plain=eq D= OVERRIDDEN=from-env TCPREMOTEIP=evil TCPREMOTEPORT=1 TCPLOCALIP=evil TCPLOCALPORT=1 REMOTE_ADDR=evil REMOTE_PORT=1 PROTO=evil SUPERD_SERVICE=evil`,
  },
  envpath: { server: '/usr/bin/env', env: 'PATH=/opt/custom/bin:/bin' },
  printf: {
    server: '/usr/bin/printf',
    args: `'[%s]' "two words" 'single' back\\ slash "" 'a"b' "c'd" $HOME '*' ';#' ~`,
  },
  cmdline: { server: '/bin/cat', args: '/proc/self/cmdline' },
  argv0: { server: '/bin/sh', args: `-c 'echo "$0"'` },
  pwd: { server: '/bin/pwd' },
  stat: { server: '/bin/cat', args: '/proc/self/stat' },
  sigs: { server: '/bin/grep', args: `-E '^Sig(Blk|Ign):' /proc/self/status` },
  fds: { server: '/bin/ls', args: '-1 /proc/self/fd' },
  sockfd: {
    server: '/bin/sh',
    args: `-c 'readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2; grep -H ^flags: /proc/$$/fdinfo/0 /proc/$$/fdinfo/1'`,
  },
};

describe('serve: the handler contract', () => {
  let d: DaemonHandle | undefined;
  const ports = new Map<string, number>();

  before(async () => {
    const defs: Record<string, Record<string, string>> = {};
    for (const v of VARIANTS.filter((x) => x.skip === false)) {
      for (const [base, keys] of Object.entries(SERVICES)) defs[base + v.suffix] = { protocol: 'tcp', bind: '127.0.0.1', ...keys, ...v.keys };
    }
    // superd itself inherits a stray descriptor (no close-on-exec), as from a
    // careless parent: it must not reach any handler.
    const served = await startServices(defs, {
      env: { PATH: DAEMON_PATH, SECRET: '1', KEEP: 'kept value', OVERRIDDEN: 'from-superd', HOME: '/root', LANG: 'C' },
      strayFd: true,
    });
    d = served.d;
    for (const [name, port] of Object.entries(served.port)) ports.set(name, port);
    const fd9 = await readlink(`/proc/${d.pid}/fd/9`).catch(() => 'none');
    assert.equal(fd9, '/dev/null', 'the harness should have given superd a stray fd 9');
  });
  after(async () => {
    await d?.stop();
  });

  /** Connects, half-closes at once, and returns the handler's output and its accepted record. */
  async function ask(name: string): Promise<{ out: Buffer; client: Client; accepted: LogRecord }> {
    const port = ports.get(name);
    assert.ok(port !== undefined, `no port for ${name}`);
    const client = await connectClient(port);
    client.end();
    const how = await client.waitClosed(5000);
    assert.equal(how, 'end', `${name}: connection should end with a clean EOF`);
    const accepted = await d!.waitFor(
      (r) => r.event === 'accepted' && r.service === name && r.remote_port === client.localPort,
      `accepted record for ${name}`,
    );
    return { out: client.received(), client, accepted };
  }

  for (const v of VARIANTS) {
    describe(v.label, { skip: v.skip }, () => {
      test('environment is exactly PATH + pass_env + env + the connection variables; nothing leaks', async () => {
        const name = `envdump${v.suffix}`;
        const { out, client } = await ask(name);
        const lines = out.toString('utf8').split('\n').filter((l) => l !== '');
        const expected = [
          `PATH=${DAEMON_PATH}`,
          'KEEP=kept value',
          'OVERRIDDEN=from-env',
          'A=with spaces',
          `B=it's "quoted"`,
          'C=plain=eq',
          'D=',
          `SUPERD_SERVICE=${name}`,
          'PROTO=TCP',
          'TCPREMOTEIP=127.0.0.1',
          `TCPREMOTEPORT=${client.localPort}`,
          'TCPLOCALIP=127.0.0.1',
          `TCPLOCALPORT=${ports.get(name) ?? 0}`,
          'REMOTE_ADDR=127.0.0.1',
          `REMOTE_PORT=${client.localPort}`,
        ];
        assert.ok(!lines.some((l) => l.startsWith('SECRET=')), `superd's SECRET leaked into the handler:\n${lines.join('\n')}`);
        assert.ok(!lines.some((l) => l.startsWith('HOME=') || l.startsWith('LANG=')), `superd's HOME/LANG leaked:\n${lines.join('\n')}`);
        assert.ok(!lines.some((l) => l.startsWith('MISSING_VAR')), 'a pass_env name superd does not have must not appear');
        assert.deepEqual([...lines].sort(), [...expected].sort());
      });

      test('env may replace PATH', async () => {
        const { out } = await ask(`envpath${v.suffix}`);
        const lines = out.toString('utf8').split('\n');
        assert.ok(lines.includes('PATH=/opt/custom/bin:/bin'), out.toString());
        assert.equal(lines.filter((l) => l.startsWith('PATH=')).length, 1);
      });

      test('args are split like a shell splits words, with no expansion', async () => {
        const { out } = await ask(`printf${v.suffix}`);
        assert.equal(out.toString('utf8'), `[two words][single][back slash][][a"b][c'd][$HOME][*][;#][~]`);
      });

      // SPEC §2: a handler started through the credential trampoline (setpriv
      // execs it by path) gets the absolute path as argv[0].
      const switched = v.suffix !== '';
      test(switched ? "argv[0] is the server's absolute path (user switched by setpriv)" : "argv[0] is the server's base name", async () => {
        const { out } = await ask(`cmdline${v.suffix}`);
        assert.equal(out.toString('latin1'), `${switched ? '/bin/cat' : 'cat'}\0/proc/self/cmdline\0`);
        const sh = await ask(`argv0${v.suffix}`);
        assert.equal(sh.out.toString('utf8'), switched ? '/bin/sh\n' : 'sh\n');
      });

      test('the working directory is /', async () => {
        const { out } = await ask(`pwd${v.suffix}`);
        assert.equal(out.toString('utf8'), '/\n');
      });

      test('the handler leads its own process group, as a child of superd, with no controlling terminal', async () => {
        const superd = await procStat(d!.pid);
        const { out, accepted } = await ask(`stat${v.suffix}`);
        const st = parseProcStat(out.toString('utf8'));
        assert.equal(st.pid, accepted.pid, 'the accepted record names the handler pid');
        assert.equal(st.pgrp, st.pid, 'process group id == pid');
        assert.notEqual(st.pgrp, superd.pgrp, "not in superd's process group");
        assert.equal(st.ttyNr, 0, 'no controlling terminal');
        // A session of its own only when superd has a terminal to be rid of
        // (src/spawn/session.ts; serve-session.test.ts starts superd on one).
        if (superd.ttyNr === 0) assert.equal(st.session, superd.session, "superd's session: it has no terminal");
        else assert.equal(st.session, st.pid, 'a session of its own, away from superd\'s terminal');
        assert.equal(st.ppid, d!.pid, 'superd is the parent (it reaps the handler)');
        // superd's helper threads run SCHED_BATCH and handlers are started on
        // one of them: the handler is put back to superd's own policy (src/spawn/sched.ts).
        assert.equal(st.policy, superd.policy, `superd's scheduling policy (${superd.policy}), not its pool thread's`);
        assert.equal(st.nice, superd.nice, "superd's nice value");
      });

      test('no signal is ignored or blocked (SigIgn and SigBlk are 0)', async () => {
        const { out } = await ask(`sigs${v.suffix}`);
        assert.equal(out.toString('utf8'), 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
      });

      test('the handler inherits only fds 0, 1 and 2', async () => {
        // ls opens /proc/self/fd itself, on the lowest free descriptor: 3 when
        // the handler got exactly 0, 1 and 2; anything leaked would push it up.
        const { out } = await ask(`fds${v.suffix}`);
        assert.deepEqual(out.toString('utf8').split('\n').filter((l) => l !== ''), ['0', '1', '2', '3']);
      });

      test('fd 0 and fd 1 are the connection socket, in blocking mode; fd 2 is the stderr pipe', async () => {
        const { out } = await ask(`sockfd${v.suffix}`);
        const lines = out.toString('utf8').split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 5, out.toString());
        const [fd0, fd1, fd2, flags0, flags1] = lines as [string, string, string, string, string];
        assert.match(fd0, /^socket:\[\d+\]$/);
        assert.equal(fd1, fd0, 'fd 1 is the same socket as fd 0');
        // stderr = log (the default): a pipe (or socketpair) to superd, not the connection.
        assert.match(fd2, /^(pipe|socket):\[\d+\]$/);
        assert.notEqual(fd2, fd0, 'with stderr = log, fd 2 must not be the connection');
        for (const [fd, line] of [
          [0, flags0],
          [1, flags1],
        ] as const) {
          const m = /fdinfo\/(\d+):flags:\s+([0-7]+)$/.exec(line);
          assert.ok(m !== null, `unexpected fdinfo line: ${line}`);
          assert.equal(Number(m[1]), fd);
          const flags = parseInt(m[2] ?? '0', 8);
          assert.equal(flags & 0o4000, 0, `fd ${fd} has O_NONBLOCK set (flags ${m[2] ?? ''})`);
        }
      });
    });
  }
});
