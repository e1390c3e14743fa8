// Log line formats and the SUPERD_<OPTION> mapping, without a daemon.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { optionsFromEnvironment } from '../src/cli.js';
import { formatReloadSummary, formatStatusTable, type DaemonStatus } from '../src/control/status.js';
import { formatJson, formatText } from '../src/log/format.js';

describe('log formats (SPEC §6)', () => {
  const time = '2026-11-25T00:00:00.000Z';
  test('text: time level event key=value, values with spaces or quotes quoted', () => {
    const line = formatText(time, 'info', 'stderr', { service: 'git', pid: 42, message: 'say "hi" now', empty: '' });
    assert.equal(line, `${time} info stderr service=git pid=42 message="say \\"hi\\" now" empty=""`);
  });
  test('text leaves out fields that do not apply; JSON keeps null', () => {
    const fields = { service: 's', pid: 1, code: 0, signal: null, skipped: undefined };
    assert.equal(formatText(time, 'info', 'exited', fields), `${time} info exited service=s pid=1 code=0`);
    assert.deepEqual(JSON.parse(formatJson(time, 'info', 'exited', fields)), {
      time,
      level: 'info',
      event: 'exited',
      service: 's',
      pid: 1,
      code: 0,
      signal: null,
    });
  });
  test('text quotes control characters and = so a line stays one record', () => {
    const line = formatText(time, 'warn', 'stderr', { message: 'a\tb=c\u0007' });
    assert.equal(line, `${time} warn stderr message="a\\tb=c\\u0007"`);
  });
});

describe('options from SUPERD_<OPTION>', () => {
  test('known options become arguments', () => {
    assert.deepEqual(optionsFromEnvironment(['run'], { SUPERD_SERVICES_DIR: '/x', SUPERD_LOG_LEVEL: 'debug' }), [
      '--services-dir=/x',
      '--log-level=debug',
    ]);
  });
  test('the command line wins, also through -d', () => {
    assert.deepEqual(optionsFromEnvironment(['run', '-d', '/cli'], { SUPERD_SERVICES_DIR: '/env' }), []);
    assert.deepEqual(optionsFromEnvironment(['--log-level=warn'], { SUPERD_LOG_LEVEL: 'debug' }), []);
  });
  test("a handler's SUPERD_SERVICE and other unknown SUPERD_ variables are not options", () => {
    assert.deepEqual(optionsFromEnvironment([], { SUPERD_SERVICE: 'git', SUPERD_NOPE: '1' }), []);
  });
});

describe('status table', () => {
  test('one row per service with its figures', () => {
    const status: DaemonStatus = {
      pid: 7,
      startedAt: '2026-11-25T00:00:00.000Z',
      servicesDir: '/etc/superd/services.d',
      lastReload: { time: '2026-11-25T01:00:00.000Z', errors: 2 },
      services: [
        { name: 'echo', address: '127.0.0.1:7/tcp', listening: '127.0.0.1:7', mode: 'nowait', handler: '/bin/cat', running: 1, queued: 0, accepted: 5, failed: 0, refused: {}, lastError: null },
        {
          name: 'git', address: '*:9418/tcp', listening: null, mode: 'nowait', handler: '/usr/bin/git', running: 0, queued: 2, accepted: 0, failed: 1, refused: { queue_full: 3 },
          lastError: { time: '2026-11-25T02:00:00.000Z', kind: 'bind', message: 'address already in use (EADDRINUSE)' },
        },
      ],
    };
    const lines = formatStatusTable(status).trimEnd().split('\n');
    assert.equal(lines.length, 6);
    assert.match(lines[0] ?? '', /pid 7/);
    assert.match(lines[0] ?? '', /last reload 2026-11-25T01:00:00\.000Z with 2 error\(s\)/);
    assert.equal(lines[5], 'git: last bind error at 2026-11-25T02:00:00.000Z: address already in use (EADDRINUSE)');
    assert.match(lines[1] ?? '', /^SERVICE\s+ADDRESS\s+MODE\s+RUNNING\s+QUEUED\s+ACCEPTED\s+REFUSED\s+FAILED\s+HANDLER$/);
    assert.match(lines[2] ?? '', /^echo\s+127\.0\.0\.1:7\/tcp\s+nowait\s+1\s+0\s+5\s+0\s+0\s+\/bin\/cat$/);
    assert.match(lines[3] ?? '', /^git\s+\*:9418\/tcp \(not bound\)\s+nowait\s+0\s+2\s+0\s+queue_full=3\s+1\s+\/usr\/bin\/git$/);
  });
});

test("reload summary counts the errors a file left out ('and M more') in full", () => {
  const one = { code: 'bad_value', file: '/d/a.conf', line: 3, service: 'x', message: 'bad' };
  const more = { code: 'more_errors', file: '/d/a.conf', line: 40, service: null, message: 'and 11 more errors', omitted: 11 };
  const line = formatReloadSummary({ pid: 9, added: 0, changed: 0, removed: 0, unchanged: 2, errors: [one, one, more] });
  assert.equal(line, 'superd (pid 9) reloaded: 0 added, 0 changed, 0 removed, 2 unchanged, 13 errors\n');
});
