// --metrics (SPEC §1, §6): Prometheus's text format at /metrics, scraped
// over real HTTP from a real superd while it serves, and checked against
// its own log: every counter equals the count of the log lines it counts.
// Also: the option's values, the endpoint's answers to anything else, a port
// in use, nothing listening without it, and `promtool check metrics`.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { access, chmod, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange, freePorts, hasIPv6Loopback, holdConnection, tryConnect, type HeldConnection } from './helpers/clients.js';
import { runSuperd, scratchDirs, serviceFile, startDaemon, startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';
import { eventually, pool, within } from './helpers/wait.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to superd's metrics endpoint (bounded). */
function http(port: number, opts: { method?: string; path?: string; host?: string } = {}): Promise<Reply> {
  const done = new Promise<Reply>((resolve, reject) => {
    const req = request({ host: opts.host ?? '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return within(done, 10000, `${opts.method ?? 'GET'} ${opts.path ?? '/metrics'} on port ${port}`);
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a scrape (our label values have no escapes). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) labels[k as string] = v as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples of `name` whose labels include `labels` (0 when there is none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** The metrics endpoint's port, from its `listening` line (no service field: it is no service). */
async function metricsPort(d: DaemonHandle): Promise<{ port: number; rec: LogRecord }> {
  const rec = await d.waitFor((r) => r.event === 'listening' && r.service === undefined && typeof r.url === 'string', 'the metrics listening line');
  const m = /:(\d+)\/tcp$/.exec(String(rec.address));
  return { port: Number(m?.[1]), rec };
}

/** The tcp ports a process listens on: its socket descriptors' inodes, looked up in the kernel's tables. */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m !== null) inodes.add(m[1] as string);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) ports.add(parseInt((cols[1] ?? '').split(':').pop() ?? '', 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** A tcp port held by the test: superd cannot bind it. */
function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr !== null ? addr.port : 0 });
    });
  });
}

/** promtool on PATH, or where .ci/run installs it; null when neither has it. */
async function findPromtool(): Promise<string | null> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((p) => p !== ''), '/usr/local/bin'];
  for (const dir of dirs) {
    const path = join(dir, 'promtool');
    if (await access(path, constants.X_OK).then(() => true, () => false)) return path;
  }
  return null;
}
const count = (logs: LogRecord[], pred: (r: LogRecord) => boolean): number => logs.filter(pred).length;
const outcomeOf = (r: LogRecord): string => (typeof r.signal === 'string' ? 'signal' : r.code === 0 ? 'exit_0' : 'exit_nonzero');
const SERVICES = ['ok', 'echo', 'fails', 'killed', 'guarded', 'limited', 'single', 'broken'];

describe('--metrics: the counters during load match the log', () => {
  const scratch = scratchDirs('superd-metrics-');
  let d: DaemonHandle | undefined;
  let held: { server: Server; port: number } | undefined;
  let metrics = 0;
  const port: Record<string, number> = {};
  const clients: HeldConnection[] = [];
  let broken = '';

  before(async () => {
    const dir = await scratch();
    broken = join(dir, 'broken.sh');
    // Executable when the files are read, not when the connection comes: a spawn failure.
    await writeFile(broken, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    held = await holdPort();
    const defs: Record<string, Record<string, string | number>> = {
      ok: { server: '/bin/cat' },
      echo: { builtin: 'echo' },
      fails: { server: '/bin/sh', args: `-c 'exit 3'` },
      killed: { server: '/bin/sh', args: `-c 'kill -KILL $$'` },
      guarded: { server: '/bin/cat', only_from: '192.0.2.1' },
      limited: { server: '/bin/cat', max_per_source: 1 },
      single: { server: '/bin/cat', max_children: 1 },
      broken: { server: broken },
    };
    const served = await startServices(Object.fromEntries(Object.entries(defs).map(([n, k]) => [n, { bind: '127.0.0.1', ...k }])), {
      args: ['--metrics', '127.0.0.1:0'],
      // Bound by the test: its bind_failed is counted.
      services: { 'taken.conf': serviceFile('taken', { server: '/bin/cat', bind: '127.0.0.1', port: held.port }) },
    });
    d = served.d;
    Object.assign(port, served.port);
    metrics = (await metricsPort(d)).port;
    await d.waitFor((r) => r.event === 'bind_failed' && r.service === 'taken', 'bind_failed for taken');
    await chmod(broken, 0o644);
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await d?.stop();
    held?.server.close();
  });

  test('scrapes during load all answer, with counters that only go up; afterwards each equals its log lines', async () => {
    const dd = d ?? assert.fail('superd did not start');
    // Load: connections to ok, scraped all the while.
    let loading = true;
    const seen: number[] = [];
    const scraper = (async () => {
      while (loading) {
        const r = await http(metrics);
        assert.equal(r.status, 200);
        seen.push(value(parse(r.body), 'superd_connections_accepted_total', { service: 'ok' }));
      }
    })();
    await pool(60, 8, async (i) => {
      const r = await exchange(port.ok ?? 0, `line ${i}\n`);
      assert.equal(r.data.toString(), `line ${i}\n`);
    });
    loading = false;
    await scraper;
    assert.ok(seen.length >= 1, 'scraped during the load');
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] ?? 0) >= (seen[i - 1] ?? 0), `accepted never goes down: ${seen.join(',')}`);

    // One of each: an echo, a non-zero exit, a signal, refusals (2 of each reason: each logged), a spawn failure.
    assert.equal((await exchange(port.echo ?? 0, 'hi\n')).data.toString(), 'hi\n');
    await exchange(port.fails ?? 0, '');
    await exchange(port.killed ?? 0, '');
    for (let i = 0; i < 2; i++) await exchange(port.guarded ?? 0, 'x\n');
    clients.push(await holdConnection(port.limited ?? 0));
    await dd.waitFor((r) => r.event === 'accepted' && r.service === 'limited', 'the held limited connection accepted');
    for (let i = 0; i < 2; i++) await exchange(port.limited ?? 0, 'x\n');
    clients.push(await holdConnection(port.single ?? 0));
    await dd.waitFor((r) => r.event === 'accepted' && r.service === 'single', 'the first single connection accepted');
    clients.push(await holdConnection(port.single ?? 0));
    await dd.waitFor((r) => r.event === 'queued' && r.service === 'single', 'the second single connection queued');
    await exchange(port.broken ?? 0, '');
    await dd.waitFor((r) => r.event === 'spawn_failed' && r.service === 'broken', 'spawn_failed');
    await dd.waitForCount((r) => r.event === 'refused', 4, 'four refused lines');
    await dd.waitForCount((r) => r.event === 'exited' && r.service === 'ok', 60, 'sixty ok handlers exited');
    await dd.waitFor((r) => r.event === 'exited' && r.service === 'killed', 'the killed handler exited');
    // A reload, with a config error in a new file.
    await dd.writeService('bad.conf', '[bad]\nport = 1\nbuiltin = echo\nbogus_key = 1\n');
    const reload = await dd.reload();
    assert.ok(Number(reload.errors) >= 1, `the reload had errors: ${JSON.stringify(reload)}`);

    // Counted at the event, written to the log within moments: the scrape
    // equals the log once the lines are out (and a 30 s bind retry may come between).
    let last = '';
    const matches = async (): Promise<boolean> => {
      const s = parse((await http(metrics)).body);
      const logs = dd.logs;
      const expect: [string, Record<string, string>, number][] = [];
      for (const service of SERVICES) {
        const of = (event: string) => (r: LogRecord): boolean => r.event === event && r.service === service;
        expect.push(['superd_connections_accepted_total', { service }, count(logs, of('accepted'))]);
        expect.push(['superd_spawn_failures_total', { service }, count(logs, of('spawn_failed'))]);
        for (const outcome of ['exit_0', 'exit_nonzero', 'signal']) {
          expect.push(['superd_handlers_exited_total', { service, outcome }, count(logs, (r) => of('exited')(r) && outcomeOf(r) === outcome)]);
        }
        expect.push(['superd_handler_duration_seconds_count', { service }, count(logs, of('exited'))]);
        for (const reason of ['only_from', 'max_per_source']) {
          expect.push(['superd_connections_refused_total', { service, reason }, count(logs, (r) => of('refused')(r) && r.reason === reason)]);
        }
      }
      expect.push(['superd_bind_failures_total', { service: 'taken' }, count(logs, (r) => r.event === 'bind_failed' && r.service === 'taken')]);
      expect.push(['superd_reloads_total', { outcome: 'errors' }, count(logs, (r) => r.event === 'reload' && Number(r.errors) > 0)]);
      expect.push(['superd_reloads_total', { outcome: 'ok' }, count(logs, (r) => r.event === 'reload' && Number(r.errors) === 0)]);
      expect.push(['superd_config_errors_total', {}, count(logs, (r) => r.event === 'config_error')]);
      expect.push(['superd_fd_exhaustion_episodes_total', {}, count(logs, (r) => r.event === 'fd_exhausted')]);
      expect.push(['superd_log_lines_dropped_total', {}, 0]);
      expect.push(['superd_handlers_running', { service: 'limited' }, 1]);
      expect.push(['superd_handlers_running', { service: 'single' }, 1]);
      expect.push(['superd_connections_queued', { service: 'single' }, 1]);
      expect.push(['superd_handlers_running', { service: 'ok' }, 0]);
      const wrong = expect.filter(([name, labels, n]) => value(s, name, labels) !== n);
      last = wrong.map(([name, labels, n]) => `${name}${JSON.stringify(labels)}: scraped ${value(s, name, labels)}, log ${n}`).join('\n');
      return wrong.length === 0;
    };
    assert.ok(await eventually(matches, 10000, 100), `scrape and log differ:\n${last}`);

    // The figures of the run itself, so that the comparison above compared something.
    const s = parse((await http(metrics)).body);
    assert.equal(value(s, 'superd_connections_accepted_total', { service: 'ok' }), 60);
    assert.equal(value(s, 'superd_handlers_exited_total', { service: 'fails', outcome: 'exit_nonzero' }), 1);
    assert.equal(value(s, 'superd_handlers_exited_total', { service: 'killed', outcome: 'signal' }), 1);
    assert.equal(value(s, 'superd_connections_refused_total', { service: 'guarded', reason: 'only_from' }), 2);
    assert.equal(value(s, 'superd_connections_refused_total', { service: 'limited', reason: 'max_per_source' }), 2);
    assert.equal(value(s, 'superd_spawn_failures_total', { service: 'broken' }), 1);
    assert.ok(value(s, 'superd_bind_failures_total', { service: 'taken' }) >= 1);
    assert.ok(value(s, 'superd_config_errors_total') >= 1);
    assert.equal(value(s, 'superd_reloads_total'), 1);
    // The histogram's +Inf bucket is its count; its sum is the exited lines' durations.
    assert.equal(value(s, 'superd_handler_duration_seconds_bucket', { service: 'ok', le: '+Inf' }), 60);
    const durations = dd.logs.filter((r) => r.event === 'exited' && r.service === 'ok').reduce((n, r) => n + Number(r.duration_ms) / 1000, 0);
    assert.ok(Math.abs(value(s, 'superd_handler_duration_seconds_sum', { service: 'ok' }) - durations) < 1e-6);
  });

  test('every family has HELP and TYPE, superd_ or process_ names, and `promtool check metrics` is clean', async (t) => {
    const r = await http(metrics);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const families = new Set(parse(r.body).map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const f of families) {
      assert.match(f, /^(superd|process)_/);
      assert.match(r.body, new RegExp(`^# HELP ${f} \\S`, 'm'), `HELP for ${f}`);
      assert.match(r.body, new RegExp(`^# TYPE ${f} (counter|gauge|histogram)$`, 'm'), `TYPE for ${f}`);
    }
    const promtool = await findPromtool();
    if (promtool === null) return t.skip('promtool is not installed (.ci/run takes it from Debian\'s prometheus package)');
    const dir = await scratch();
    await writeFile(join(dir, 'scrape.txt'), r.body);
    const checked = await runProgram('/bin/sh', ['-c', `${promtool} check metrics < ${join(dir, 'scrape.txt')}`]);
    assert.equal(checked.code, 0, `promtool: ${checked.stdout}${checked.stderr}`);
    assert.equal(`${checked.stdout}${checked.stderr}`.trim(), '', 'no lint warnings');
  });

  test('only GET and HEAD of /metrics: 404 for another path, 405 (Allow: GET, HEAD) for another method', async () => {
    assert.equal((await http(metrics, { path: '/' })).status, 404);
    assert.equal((await http(metrics, { path: '/metricsx' })).status, 404);
    const post = await http(metrics, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await http(metrics, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await http(metrics, { path: '/metrics?x=1' })).status, 200);
  });

  test('idle connections to the endpoint are closed after a while, and never hold up a service', async () => {
    const dd = d ?? assert.fail('superd did not start');
    const idle = await Promise.all(Array.from({ length: 12 }, () => holdConnection(metrics)));
    try {
      assert.equal((await exchange(port.echo ?? 0, 'still\n')).data.toString(), 'still\n');
      const how = await Promise.all(idle.map((c) => c.closed));
      for (const h of how) assert.ok(['end', 'closed', 'ECONNRESET'].includes(h), h);
      assert.equal((await http(metrics)).status, 200);
      assert.equal(dd.proc.exitCode, null);
    } finally {
      for (const c of idle) c.destroy();
    }
  });
});

describe('--metrics: the option', () => {
  const scratch = scratchDirs('superd-metrics-opt-');
  const daemons: DaemonHandle[] = [];
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
  });

  test('off by default: superd listens on its services only', async () => {
    const { d, port } = await startServices({ echo: { builtin: 'echo', bind: '127.0.0.1' } });
    daemons.push(d);
    assert.deepEqual(await listeningPorts(d.pid), [port.echo]);
    assert.equal(d.logs.filter((r) => r.event === 'listening' && r.service === undefined).length, 0);
    const started = await d.waitFor((r) => r.event === 'started', 'started');
    assert.equal(started.metrics, undefined);
  });

  test('a bare port is 127.0.0.1 (from SUPERD_METRICS too); the port is in `started` and is all it adds', async () => {
    const { d, port: served } = await startServices(
      { echo: { builtin: 'echo', bind: '127.0.0.1' } },
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SUPERD_METRICS: '0' } },
    );
    daemons.push(d);
    const { port, rec } = await metricsPort(d);
    assert.match(String(rec.address), /^127\.0\.0\.1:\d+\/tcp$/);
    assert.equal(rec.url, `http://127.0.0.1:${port}/metrics`);
    const started = await d.waitFor((r) => r.event === 'started', 'started');
    assert.equal(started.metrics, `127.0.0.1:${port}`);
    assert.deepEqual(await listeningPorts(d.pid), [port, served.echo ?? 0].sort((a, b) => a - b));
    assert.equal((await http(port)).status, 200);
  });

  test('[::1]:PORT listens on IPv6 loopback only', async (t) => {
    if (!(await hasIPv6Loopback())) return t.skip('no IPv6 loopback here');
    const d = await startDaemon({ args: ['--metrics', '[::1]:0'] });
    daemons.push(d);
    const { port, rec } = await metricsPort(d);
    assert.match(String(rec.address), /^\[::1\]:\d+\/tcp$/);
    assert.equal((await http(port, { host: '::1' })).status, 200);
    assert.notEqual(await tryConnect(port, '127.0.0.1'), 'connected');
  });

  test('a bad value: exit 1 naming the option, from the command line or SUPERD_METRICS', async () => {
    const dir = await scratch();
    for (const bad of ['nonsense', 'localhost:9101', '::1:9101', '127.0.0.1:70000', '1.2.3.4']) {
      const r = await runSuperd(['run', '-d', dir, '--control-socket', join(dir, 'c.sock'), '--metrics', bad]);
      assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--metrics/, bad);
    }
    const env = await runSuperd(['run', '-d', dir, '--control-socket', join(dir, 'c.sock')], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SUPERD_METRICS: 'nope' } });
    assert.equal(env.code, 1, env.stderr);
    assert.match(env.stderr, /--metrics: 'nope'/);
  });

  test('log lines dropped while the log cannot be written (/dev/full) are counted at once', async () => {
    // No log to read the ports from: both chosen here (again, should one be taken meanwhile).
    for (let attempt = 1; ; attempt++) {
      const [echo = 0, metrics = 0] = await freePorts(2);
      const d = await startDaemon({
        services: { 'echo.conf': serviceFile('echo', { builtin: 'echo', bind: '127.0.0.1', port: echo }) },
        args: ['--log-file', '/dev/full', '--metrics', `127.0.0.1:${metrics}`],
        waitStarted: false,
      });
      daemons.push(d);
      await d.waitFor((r) => r.event === 'log_failed', 'log_failed on stderr');
      // The endpoint listens before the services do: both are waited for.
      const up = async (p: number): Promise<boolean> => eventually(async () => (await tryConnect(p)) === 'connected', 10000);
      if (!(await up(metrics)) || !(await up(echo))) {
        assert.ok(attempt < 3, 'the metrics port was taken three times');
        continue;
      }
      const dropped = async (): Promise<number> => value(parse((await http(metrics)).body), 'superd_log_lines_dropped_total');
      const before = await dropped();
      assert.ok(before > 0, `lines dropped since the start: ${before}`);
      for (let i = 0; i < 3; i++) assert.equal((await exchange(echo, 'x\n')).data.toString(), 'x\n');
      // accepted and exited of each: six more lines, none of them written.
      assert.ok(await eventually(async () => (await dropped()) >= before + 6, 10000), 'the new lines counted as dropped');
      return;
    }
  });

  test('its port in use: superd says so and exits 1, with no service left listening', async () => {
    const held = await holdPort();
    try {
      const d = await startDaemon({
        services: { 'echo.conf': serviceFile('echo', { builtin: 'echo', bind: '127.0.0.1', port: held.port }) },
        args: ['--metrics', `127.0.0.1:${held.port}`],
        waitStarted: false,
      });
      daemons.push(d);
      const exit = await within(d.exited, 30000, 'superd exits');
      assert.equal(exit.code, 1);
      await d.logComplete();
      const said = d.otherStderr.join('\n');
      assert.match(said, new RegExp(`superd: cannot start: --metrics 127\\.0\\.0\\.1:${held.port}: cannot listen: EADDRINUSE: the port is in use`));
      assert.ok(d.logs.some((r) => r.event === 'startup_failed' && r.address === `127.0.0.1:${held.port}`), 'startup_failed logged');
      assert.equal(d.logs.filter((r) => r.event === 'listening' || r.event === 'started').length, 0, 'nothing started');
    } finally {
      held.server.close();
    }
  });
});
