// Issue 26: when superd's standard error is the journal (JOURNAL_STREAM names
// fd 2's device and inode), every log line starts with its syslog priority,
// `<3>` error, `<4>` warn, `<6>` info, `<7>` debug, for journald to file it
// by; anywhere else (another file, a pipe, a --log-file) lines are as ever.
// No journald here (no systemd as pid 1): the daemon's stderr is a file this
// test made, and JOURNAL_STREAM names that file, as systemd names its stream.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { isJournalStream, JOURNAL_PREFIX } from '../src/log/journal.js';
import { runSuperd, serviceFile, SUPERD, tempDir, WAIT_MS } from './helpers/daemon.js';
import { unixExchange } from './helpers/unix.js';
import { eventually, within } from './helpers/wait.js';

describe('is standard error the journal (pure)', () => {
  const fd2 = { dev: 64769n, ino: 123456789n };
  test('JOURNAL_STREAM naming fd 2 (device and inode, decimal) is the journal', () => {
    assert.equal(isJournalStream('64769:123456789', fd2), true);
  });
  test('another device or another inode is not: a variable inherited past a redirection', () => {
    assert.equal(isJournalStream('64770:123456789', fd2), false);
    assert.equal(isJournalStream('64769:123456780', fd2), false);
  });
  test('inode numbers past 2^53 compare exactly', () => {
    const big = { dev: 2049n, ino: 18446744073709551557n };
    assert.equal(isJournalStream('2049:18446744073709551557', big), true);
    assert.equal(isJournalStream('2049:18446744073709551556', big), false);
  });
  test('malformed, empty or unset JOURNAL_STREAM, or fd 2 closed: not the journal', () => {
    for (const value of ['', '64769', '64769:', ':123456789', '64769:123456789:1', ' 64769:123456789', '0x fd01:123456789', '64769:-1', 'a:b']) {
      assert.equal(isJournalStream(value, fd2), false, JSON.stringify(value));
    }
    assert.equal(isJournalStream(undefined, fd2), false);
    assert.equal(isJournalStream('64769:123456789', null), false);
  });
  test('one prefix per level: syslog LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG', () => {
    assert.deepEqual(JOURNAL_PREFIX, { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' });
  });
});

const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers.splice(0)) s.close();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(): Promise<string> {
  const dir = await tempDir('superd-journal-');
  dirs.push(dir);
  return dir;
}

/** A port on 127.0.0.1 held by this test: a service there fails to bind. */
async function busyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : assert.fail('no port');
}

/** One line of superd's stderr: the priority prefix it has (or null) and the rest. */
interface Line {
  prefix: string | null;
  body: string;
}

function parseLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(<\d>)(.*)$/.exec(l);
      return m === null ? { prefix: null, body: l } : { prefix: m[1] ?? null, body: m[2] ?? '' };
    });
}

/** The level and event of a log line in either format. */
function eventOf(body: string, format: 'text' | 'json'): { level: string; event: string } {
  if (format === 'json') {
    const r = JSON.parse(body) as { level: string; event: string };
    return { level: r.level, event: r.event };
  }
  const [, level = '', event = ''] = body.split(' ');
  return { level, event };
}

/** JOURNAL_STREAM for the file open as fd: its own identity, or one with the inode off by one. */
function journalStreamOf(fd: number, which: 'same' | 'other-inode'): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${which === 'same' ? st.ino : st.ino + 1n}`;
}

interface FileDaemon {
  stderrFile: string;
  lines(): Promise<Line[]>;
  waitForLine(pred: (l: Line) => boolean, what: string): Promise<Line>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  pid: number;
}

/**
 * bin/superd with its standard error a file this test made (as the journal's
 * stream is a socket systemd made), and JOURNAL_STREAM naming that file or not.
 */
async function daemonOnFile(opts: { format: 'text' | 'json'; journal: 'same' | 'other-inode'; services: Record<string, string>; args?: string[] }): Promise<FileDaemon> {
  const dir = await scratch();
  const servicesDir = join(dir, 'services.d');
  await mkdir(servicesDir);
  for (const [file, content] of Object.entries(opts.services)) await writeFile(join(servicesDir, file), content);
  const stderrFile = join(dir, 'stderr');
  const fd = openSync(stderrFile, 'a', 0o600);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', JOURNAL_STREAM: journalStreamOf(fd, opts.journal) };
  const argv = [SUPERD, 'run', '--services-dir', servicesDir, '--log-format', opts.format, '--control-socket', join(dir, 'control.sock'), ...(opts.args ?? [])];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', fd], env });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const lines = async (): Promise<Line[]> => parseLines(await readFile(stderrFile, 'utf8'));
  return {
    stderrFile,
    pid: proc.pid ?? 0,
    lines,
    async waitForLine(pred, what) {
      let found: Line | undefined;
      const ok = await eventually(async () => (found = (await lines()).find(pred)) !== undefined || proc.exitCode !== null, WAIT_MS);
      if (!ok || found === undefined) assert.fail(`${what}: not in superd's stderr (exit ${String(proc.exitCode)}):\n${await readFile(stderrFile, 'utf8')}`);
      return found;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), WAIT_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** What a handler printed of its environment (`/usr/bin/env` as the service), as NAME -> value. */
async function handlerEnv(path: string): Promise<Map<string, string>> {
  const r = await unixExchange(path, '', { timeoutMs: 10000 });
  return new Map(
    r.data
      .toString()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('superd on the journal: each line starts with its priority', () => {
  for (const format of ['text', 'json'] as const) {
    test(`--log-format ${format}: <3> bind_failed and config_error, <4> warnings, <6> listening, started, stopped`, async () => {
      const busy = await busyPort();
      const sockets = await scratch();
      const d = await daemonOnFile({
        format,
        journal: 'same',
        services: {
          // A unix socket: no port another test could take first.
          'cat.conf': serviceFile('cat', { protocol: 'unix', path: join(sockets, 'cat.sock'), server: '/bin/cat' }),
          'busy.conf': serviceFile('busy', { port: busy, bind: '127.0.0.1', server: '/bin/cat' }),
          'broken.conf': '[broken]\nport = 1\nserver = /bin/cat\nno_such_key = 1\n',
        },
      });
      try {
        const event = (name: string) => (l: Line) => l.prefix !== null && eventOf(l.body, format).event === name;
        await d.waitForLine(event('started'), 'started');
        // SIGUSR1 is not acted on: superd logs that at warn, once.
        process.kill(d.pid, 'SIGUSR1');
        await d.waitForLine(event('signal_ignored'), 'signal_ignored');
        const before = await d.lines();
        assert.deepEqual(
          before.filter((l) => l.prefix === null),
          [],
          'every line has a prefix',
        );
        const seen = new Map(before.map((l) => [eventOf(l.body, format).event, l.prefix]));
        assert.equal(seen.get('bind_failed'), '<3>', 'bind_failed is an error');
        assert.equal(seen.get('config_error'), '<3>', 'config_error is an error');
        assert.equal(seen.get('signal_ignored'), '<4>', 'signal_ignored is a warning');
        assert.equal(seen.get('listening'), '<6>', 'listening is info');
        assert.equal(seen.get('started'), '<6>', 'started is info');
      } finally {
        assert.equal(await d.stop(), 0);
      }
      // Down to the last line, each one's prefix is its level's.
      const all = await d.lines();
      assert.ok(all.some((l) => eventOf(l.body, format).event === 'stopped'), 'stopped is logged');
      for (const l of all) {
        const { level } = eventOf(l.body, format);
        assert.equal(l.prefix, JOURNAL_PREFIX[level as keyof typeof JOURNAL_PREFIX], `${l.prefix ?? ''}${l.body}`);
      }
    });
  }

  test('JOURNAL_STREAM naming another inode (stderr redirected elsewhere): no prefix', async () => {
    const sockets = await scratch();
    const d = await daemonOnFile({
      format: 'json',
      journal: 'other-inode',
      services: { 'cat.conf': serviceFile('cat', { protocol: 'unix', path: join(sockets, 'cat.sock'), server: '/bin/cat' }) },
    });
    try {
      await d.waitForLine((l) => l.body.startsWith('{') && eventOf(l.body, 'json').event === 'started', 'started');
    } finally {
      assert.equal(await d.stop(), 0);
    }
    const all = await d.lines();
    assert.deepEqual(
      all.filter((l) => l.prefix !== null),
      [],
      'no line has a prefix',
    );
    assert.ok(all.every((l) => typeof JSON.parse(l.body) === 'object'));
  });

  test('a --log-file gets no prefix while stderr is the journal; handlers never see JOURNAL_STREAM unless pass_env names it', async () => {
    const dir = await scratch();
    const logFile = join(dir, 'superd.log');
    const plain = join(dir, 'plain.sock');
    const passed = join(dir, 'passed.sock');
    const d = await daemonOnFile({
      format: 'text',
      journal: 'same',
      args: ['--log-file', logFile],
      services: {
        'plain.conf': serviceFile('plain', { protocol: 'unix', path: plain, server: '/usr/bin/env' }),
        'passed.conf': serviceFile('passed', { protocol: 'unix', path: passed, server: '/usr/bin/env', pass_env: 'JOURNAL_STREAM' }),
      },
    });
    try {
      const started = await eventually(async () => (await readFile(logFile, 'utf8').catch(() => '')).includes(' info started '), WAIT_MS);
      assert.ok(started, `started in the log file:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
      const st = statSync(d.stderrFile, { bigint: true });
      const own = `${st.dev}:${st.ino}`;
      assert.equal((await handlerEnv(plain)).has('JOURNAL_STREAM'), false, "superd's JOURNAL_STREAM is not a handler's");
      assert.equal((await handlerEnv(passed)).get('JOURNAL_STREAM'), own, 'pass_env = JOURNAL_STREAM passes it');
    } finally {
      assert.equal(await d.stop(), 0);
    }
    const logged = parseLines(await readFile(logFile, 'utf8'));
    assert.ok(logged.length > 0);
    assert.deepEqual(
      logged.filter((l) => l.prefix !== null),
      [],
      'no prefix in the --log-file',
    );
  });

  test('superd: cannot start, and a usage error of the daemon, are <3> on the journal; another command\'s usage error is not', async () => {
    const dir = await scratch();
    const target = join(dir, 'target');
    const link = join(dir, 'link.log');
    await writeFile(target, '');
    await symlink(target, link);
    const run = async (args: string[]): Promise<string> => {
      const stderrFile = join(dir, `stderr-${args[0] ?? 'none'}`);
      const fd = openSync(stderrFile, 'a', 0o600);
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', JOURNAL_STREAM: journalStreamOf(fd, 'same') };
      const child = spawn(process.execPath, [SUPERD, ...args], { stdio: ['ignore', 'ignore', fd], env });
      closeSync(fd);
      await within(new Promise((resolve) => child.once('exit', resolve)), WAIT_MS, `superd ${args.join(' ')} exited`);
      return readFile(stderrFile, 'utf8');
    };
    const refused = await run(['run', '--services-dir', dir, '--log-file', link, '--control-socket', join(dir, 'c.sock')]);
    assert.match(refused, /^<3>superd: cannot start: .*symlink/m);
    const usage = await run(['--no-such-option']);
    assert.match(usage, /^<3>superd: Unknown argument/m);
    const other = await run(['check', '--no-such-option']);
    assert.match(other, /^superd: Unknown argument/m);
    // Without the journal, the same message as ever.
    const plain = await runSuperd(['--no-such-option']);
    assert.match(plain.stderr, /^superd: Unknown argument/m);
  });
});
