// The files an operator installs next to superd: the systemd unit and the
// logrotate snippet in contrib/, checked by the tools that read them where
// they are installed, and for what superd relies on where they are not.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TYPICAL_PATHS } from '../src/commands/unit-template.js';
import { ROOT } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';

const UNIT = join(ROOT, 'contrib', 'superd.service');
const LOGROTATE = join(ROOT, 'contrib', 'superd.logrotate');

/** `Key=value` lines of a unit (comments and sections left out). */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m?.[1] === undefined) continue;
    keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2] ?? '']);
  }
  return keys;
}

test('the unit is Type=notify, reloads with `superd reload`, stops superd alone, and is not gated on check', async () => {
  const keys = unitKeys(await readFile(UNIT, 'utf8'));
  assert.deepEqual(keys.get('Type'), ['notify']);
  assert.match(keys.get('ExecStart')?.[0] ?? '', /bin\/superd run /);
  assert.match(keys.get('ExecReload')?.[0] ?? '', /bin\/superd reload/);
  assert.deepEqual(keys.get('KillMode'), ['process'], 'handlers get the shutdown grace, not an immediate kill');
  assert.equal(keys.get('ExecStartPre'), undefined, 'one bad file must not keep every service down');
  const caps = keys.get('CapabilityBoundingSet')?.[0]?.split(/\s+/) ?? [];
  for (const cap of ['CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL']) assert.ok(caps.includes(cap), `${cap} kept`);
  assert.equal(keys.get('NoNewPrivileges'), undefined);
});

const NO_ANALYZE = existsSync('/usr/bin/systemd-analyze') ? false : 'systemd-analyze is not installed';

/** `systemd-analyze verify` of these contrib units, side by side, the service's install paths substituted with this checkout's. */
async function verifyUnits(files: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'superd-unit-'));
  try {
    const units = files.map((f) => join(dir, f));
    for (const f of files) {
      const text = await readFile(join(ROOT, 'contrib', f), 'utf8');
      await writeFile(join(dir, f), text.replaceAll(TYPICAL_PATHS.superd, join(ROOT, 'bin', 'superd')).replaceAll(TYPICAL_PATHS.node, process.execPath));
    }
    const r = await runProgram('/usr/bin/systemd-analyze', ['verify', '--man=no', ...units], { timeoutMs: 30000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim(), '', r.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('systemd-analyze verify accepts the unit (install paths substituted)', { skip: NO_ANALYZE }, () => verifyUnits(['superd.service']));

test('the logrotate snippet parses and signals SIGUSR2 through the pid file', { skip: existsSync('/usr/sbin/logrotate') ? false : 'logrotate is not installed' }, async () => {
  const text = await readFile(LOGROTATE, 'utf8');
  assert.match(text, /kill -USR2 "\$\(cat \/run\/superd\.pid\)"/);
  const dir = await mkdtemp(join(tmpdir(), 'superd-logrotate-'));
  try {
    const conf = join(dir, 'superd');
    await writeFile(join(dir, 'superd.log'), 'a line\n');
    await writeFile(conf, text.replaceAll('/var/log/superd.log', join(dir, 'superd.log')).replace(/create 0640 root adm/, 'create 0640'));
    const r = await runProgram('/usr/sbin/logrotate', ['-d', '-s', join(dir, 'state'), conf], { timeoutMs: 30000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /error/i);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const SOCKET_UNIT = join(ROOT, 'contrib', 'superd.socket');

test('the socket unit listens where the shipped example services do, one superd for all (Accept=no), for superd.service', async () => {
  const keys = unitKeys(await readFile(SOCKET_UNIT, 'utf8'));
  assert.deepEqual(keys.get('Accept'), ['no']);
  assert.deepEqual(keys.get('Service'), ['superd.service']);
  const listens = keys.get('ListenStream') ?? [];
  assert.ok(listens.length > 0);
  const examples = await Promise.all(['echo.conf', 'env.conf'].map((f) => readFile(join(ROOT, 'services.d', f), 'utf8')));
  const addresses = examples.map((text) => `${/^bind = (.+)$/m.exec(text)?.[1] ?? ''}:${/^port = (\d+)$/m.exec(text)?.[1] ?? ''}`);
  assert.deepEqual(listens, addresses, 'each ListenStream= is an example service\'s own address (superd adopts by address)');
});

test('systemd-analyze verify accepts the socket unit beside the service unit', { skip: NO_ANALYZE }, () => verifyUnits(['superd.socket', 'superd.service']));
