// Issue 14: an exception nothing caught is neither a silent exit nor a
// half-dead daemon: superd logs it once, with its stack, as internal_error,
// and exits 70 (EX_SOFTWARE) for its service manager to restart it.
//
// superd has no way to be made to throw, on purpose: the exception comes from
// a module the test preloads into superd's node (NODE_OPTIONS=--import),
// which throws from a SIGWINCH handler or leaves a rejected promise on
// SIGURG. Nothing of it is in superd.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts } from './helpers/clients.js';
import { readJsonLog, serviceFile, startDaemon, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { eventually, within } from './helpers/wait.js';

const PRELOAD = `
process.on('SIGWINCH', () => {
  throw new Error('test: an exception nothing catches');
});
process.on('SIGURG', () => {
  void Promise.reject(new Error('test: a rejection nothing handles'));
});
`;

const daemons: DaemonHandle[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function crashable(args: string[] = []): Promise<{ d: DaemonHandle; port: number; dir: string }> {
  const dir = await tempDir('superd-fatal-');
  dirs.push(dir);
  const preload = join(dir, 'crash.mjs');
  await writeFile(preload, PRELOAD);
  const [port = 0] = await freePorts(1);
  const d = await startDaemon({
    services: { 'cat.conf': serviceFile('cat', { port, bind: '127.0.0.1', server: '/bin/cat' }) },
    args,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_OPTIONS: `--import=${preload}` },
    waitStarted: !args.includes('--log-file'),
  });
  daemons.push(d);
  return { d, port, dir };
}

describe('an exception nothing caught', { timeout: 60000 }, () => {
  for (const [signal, origin, text] of [
    ['SIGWINCH', 'uncaughtException', 'an exception nothing catches'],
    ['SIGURG', 'unhandledRejection', 'a rejection nothing handles'],
  ] as const) {
    test(`${origin}: one internal_error with its stack, the control socket removed, exit 70`, async () => {
      const { d, port } = await crashable();
      const r = await exchange(port, 'before\n');
      assert.equal(r.data.toString(), 'before\n');
      assert.ok(existsSync(d.controlSocket));
      d.proc.kill(signal);
      const result = await within(d.exited, 30000, 'superd exits after an internal error');
      assert.deepEqual(result, { code: 70, signal: null });
      const errors = d.logs.filter((x) => x.event === 'internal_error');
      assert.equal(errors.length, 1, JSON.stringify(errors));
      const rec = errors[0] as LogRecord;
      assert.equal(rec.level, 'error');
      assert.equal(rec.origin, origin);
      assert.equal(rec.error, `test: ${text}`);
      assert.match(String(rec.stack), new RegExp(`^Error: test: ${text}\\n\\s+at .*crash\\.mjs`));
      assert.deepEqual(d.otherStderr, [], 'nothing but log lines on stderr (no stack dumped by node)');
      assert.equal(existsSync(d.controlSocket), false, 'the control socket is gone');
      daemons.splice(daemons.indexOf(d), 1);
      await d.stop();
    });
  }

  test('with --log-file, the internal_error line reaches the file before the exit', async () => {
    const dir = await tempDir('superd-fatal-log-');
    dirs.push(dir);
    const logFile = join(dir, 'superd.log');
    const { d } = await crashable(['--log-file', logFile]);
    assert.ok(await eventually(async () => (await readJsonLog(logFile)).some((x) => x.event === 'started'), 10000), 'started');
    d.proc.kill('SIGWINCH');
    assert.deepEqual(await within(d.exited, 30000, 'exit'), { code: 70, signal: null });
    const recs = await readJsonLog(logFile);
    assert.equal(recs.filter((x) => x.event === 'internal_error').length, 1);
    assert.equal(recs.at(-1)?.event, 'internal_error');
    daemons.splice(daemons.indexOf(d), 1);
    await d.stop();
  });
});
