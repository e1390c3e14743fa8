import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ServiceDefinition } from '../src/config/types.js';
import { isServiceFileName, loadServicesDir, type LoadOptions, type LoadResult } from '../src/config/load.js';
import { listenConflict } from '../src/config/overlap.js';
import { parseServices } from '../src/config/systemdb.js';

const isRoot = process.getuid?.() === 0;

const OPTS: LoadOptions = {
  passwd: { users: [{ name: 'root', uid: 0, gid: 0 }, { name: 'git', uid: 1001, gid: 1001 }], groups: [{ name: 'root', gid: 0 }] },
  ports: parseServices('git 9418/tcp\n'),
};

/** A fresh services dir holding `files` (name -> text), each mode 0644 as a package would install it. */
async function servicesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'superd-load-'));
  for (const [name, text] of Object.entries(files)) {
    await writeFile(path.join(dir, name), text);
    await chmod(path.join(dir, name), 0o644);
  }
  return dir;
}

async function withDir(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await servicesDir(files);
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const load = (dir: string, opts: LoadOptions = {}): Promise<LoadResult> => loadServicesDir(dir, { ...OPTS, ...opts });

const svc = (name: string, port: number | string, extra = ''): string =>
  `[${name}]\nport = ${port}\nserver = /bin/cat\n${extra}`;

const summary = (r: LoadResult): [string, string[], string[]][] =>
  r.files.map((f) => [path.basename(f.file), f.services.map((s) => s.name), f.errors.map((e) => `${e.line}:${e.code}`)]);

test('every .conf file loads, in code-point order, with paths joined from the dir', async () => {
  await withDir(
    { 'b.conf': svc('b', 2), 'a.conf': svc('a', 1), 'B.conf': svc('B', 3), '10.conf': svc('ten', 4), '9.conf': svc('nine', 5) },
    async (dir) => {
      const r = await load(dir);
      assert.equal(r.fatal, null);
      assert.deepEqual(summary(r), [
        ['10.conf', ['ten'], []],
        ['9.conf', ['nine'], []],
        ['B.conf', ['B'], []],
        ['a.conf', ['a'], []],
        ['b.conf', ['b'], []],
      ]);
      const a = r.files[3];
      assert.equal(a?.file, path.join(dir, 'a.conf'));
      assert.deepEqual(a?.services[0]?.origin, { file: path.join(dir, 'a.conf'), line: 1 });
    },
  );
});

test('backups, leftovers, hidden files, READMEs and directories are ignored', async () => {
  await withDir(
    {
      'x.conf~': svc('backup', 1),
      '.hidden.conf': svc('hidden', 2),
      README: 'not ini at all',
      'a.dpkg-old': svc('old', 3),
      'x.conf.dpkg-old': svc('old2', 4),
      '#x.conf#': svc('emacs', 5),
      'real.conf': svc('real', 6),
    },
    async (dir) => {
      await mkdir(path.join(dir, 'dir.conf'));
      const r = await load(dir);
      assert.deepEqual(summary(r), [['real.conf', ['real'], []]]);
    },
  );
  assert.equal(isServiceFileName('a.conf'), true);
  assert.equal(isServiceFileName('.a.conf'), false);
  assert.equal(isServiceFileName('a.conf.bak'), false);
});

test('a symlink to a file is read; a dangling one is an unreadable file', async () => {
  await withDir({ 'target.txt': svc('linked', 1) }, async (dir) => {
    await symlink(path.join(dir, 'target.txt'), path.join(dir, 'a.conf'));
    await symlink(path.join(dir, 'missing'), path.join(dir, 'b.conf'));
    const r = await load(dir);
    assert.deepEqual(summary(r), [['a.conf', ['linked'], []], ['b.conf', [], ['0:unreadable']]]);
    const e = r.files[1]?.errors[0];
    assert.equal(e?.file, path.join(dir, 'b.conf'));
    assert.equal(e?.service, null);
    assert.match(e?.message ?? '', /cannot read service file: it does not exist/);
  });
});

test('a file keeps its valid sections next to its errors', async () => {
  await withDir({ 'a.conf': `${svc('good', 1)}[bad]\nport = 0\nserver = /bin/cat\n` }, async (dir) => {
    const r = await load(dir);
    assert.deepEqual(summary(r), [['a.conf', ['good'], ['5:bad_value']]]);
    assert.equal(r.files[0]?.errors[0]?.service, 'bad');
  });
});

test('scan errors and validation errors of one file are all reported, in line order', async () => {
  await withDir({ 'a.conf': 'stray\n[a]\nport = 1\nport = 2\nserver = /x\nbogus = 1\n[a]\n' }, async (dir) => {
    const r = await load(dir);
    assert.deepEqual(summary(r), [['a.conf', [], ['1:syntax', '4:duplicate_key', '6:unknown_key', '7:duplicate_section']]]);
  });
});

test('a duplicate service name is an error in the later file, naming the earlier one', async () => {
  await withDir({ 'a.conf': svc('git', 1), 'b.conf': `${svc('web', 2)}\n${svc('git', 3)}` }, async (dir) => {
    const r = await load(dir);
    assert.deepEqual(summary(r), [['a.conf', ['git'], []], ['b.conf', ['web'], ['5:conflict']]]);
    const e = r.files[1]?.errors[0];
    assert.equal(e?.file, path.join(dir, 'b.conf'));
    assert.equal(e?.service, 'git');
    assert.equal(e?.message, `service name 'git' is already defined at ${path.join(dir, 'a.conf')}:1: rename one of them`);
  });
});

test('a name is taken even by a section that did not validate', async () => {
  await withDir({ 'a.conf': '[git]\nport = 0\nserver = /x\n', 'b.conf': svc('git', 3) }, async (dir) => {
    assert.deepEqual(summary(await load(dir)), [['a.conf', [], ['2:bad_value']], ['b.conf', [], ['1:conflict']]]);
  });
});

test('a duplicate listen address is an error in the later file, at the port line', async () => {
  await withDir({ 'a.conf': svc('git', 'git'), 'b.conf': `[other]\nserver = /bin/cat\nport = 9418\n` }, async (dir) => {
    const r = await load(dir);
    assert.deepEqual(summary(r), [['a.conf', ['git'], []], ['b.conf', [], ['3:conflict']]]);
    assert.equal(
      r.files[1]?.errors[0]?.message,
      `listen address *:9418/tcp is already taken by [git] at ${path.join(dir, 'a.conf')}:1 (*:9418/tcp): change port, bind or path`,
    );
  });
});

test('overlapping addresses within one file, and disabled services that hold none', async () => {
  await withDir(
    {
      'a.conf': [
        svc('any', 80),
        svc('local4', 80, 'protocol = tcp4\nbind = 127.0.0.1\n'),
        svc('alt', 80, 'disabled = yes\n'),
        svc('other', 81),
      ].join(''),
    },
    async (dir) => {
      const r = await load(dir);
      assert.deepEqual(summary(r), [['a.conf', ['any', 'alt', 'other'], ['5:conflict']]]);
    },
  );
});

function def(protocol: ServiceDefinition['protocol'], port: number, bind: string | null = null, sockPath: string | null = null): ServiceDefinition {
  return {
    name: 'x', origin: { file: 'f', line: 1 }, protocol, port, bind, path: sockPath, socketMode: 0o666, wait: false,
    handler: { kind: 'server', program: '/x', argv: ['x'] }, credentials: null, maxChildren: 1, queue: 0,
    maxPerSource: null, rate: null, ratePerSource: null, onlyFrom: null, noAccess: [], env: [], passEnv: [],
    timeout: null, stderr: 'log', disabled: false, proxy: null,
  };
}

test('listenConflict: wildcards take their families, tcp takes both', () => {
  const yes: [ServiceDefinition, ServiceDefinition][] = [
    [def('tcp', 80), def('tcp', 80)],
    [def('tcp', 80), def('tcp4', 80)],
    [def('tcp', 80), def('tcp6', 80)],
    [def('tcp', 80), def('tcp4', 80, '127.0.0.1')],
    [def('tcp', 80), def('tcp', 80, '::1')],
    [def('tcp4', 80, '0.0.0.0'), def('tcp4', 80, '10.0.0.1')],
    [def('tcp', 80, '::'), def('tcp4', 80)],
    [def('tcp6', 80, '::1'), def('tcp6', 80, '0:0:0:0:0:0:0:1')],
    [def('udp', 53), def('udp4', 53)],
    [def('unix', 0, null, '/run/a'), def('unix', 0, null, '/run/a')],
  ];
  const no: [ServiceDefinition, ServiceDefinition][] = [
    [def('tcp', 80), def('tcp', 81)],
    [def('tcp', 80), def('udp', 80)],
    [def('tcp4', 80), def('tcp6', 80)],
    [def('tcp4', 80, '127.0.0.1'), def('tcp4', 80, '127.0.0.2')],
    [def('tcp6', 80, '::'), def('tcp4', 80)],
    [def('tcp', 80, '127.0.0.1'), def('tcp', 80, '::1')],
    [def('unix', 0, null, '/run/a'), def('unix', 0, null, '/run/b')],
  ];
  for (const [a, b] of yes) {
    assert.equal(listenConflict(a, b), true, `${a.protocol} ${a.bind} vs ${b.protocol} ${b.bind}`);
    assert.equal(listenConflict(b, a), true);
  }
  for (const [a, b] of no) {
    assert.equal(listenConflict(a, b), false, `${a.protocol} ${a.bind} vs ${b.protocol} ${b.bind}`);
    assert.equal(listenConflict(b, a), false);
  }
});

test('a missing or non-directory services dir is fatal', async () => {
  const missing = path.join(os.tmpdir(), 'superd-no-such-dir-' + process.pid);
  const r = await load(missing);
  assert.deepEqual(r.files, []);
  assert.equal(r.fatal?.code, 'unreadable');
  assert.equal(r.fatal?.file, missing);
  assert.equal(r.fatal?.line, 0);
  assert.match(r.fatal?.message ?? '', /cannot read services dir .*: it does not exist/);

  await withDir({ 'a.conf': svc('a', 1) }, async (dir) => {
    const f = await load(path.join(dir, 'a.conf'));
    assert.equal(f.fatal?.code, 'unreadable');
    assert.match(f.fatal?.message ?? '', /is not a directory/);
  });
});

test('an oversized file is refused', async () => {
  await withDir({ 'big.conf': `${svc('a', 1)}#${'x'.repeat(1 << 20)}\n`, 'ok.conf': svc('b', 2) }, async (dir) => {
    const r = await load(dir);
    assert.deepEqual(summary(r), [['big.conf', [], ['0:unreadable']], ['ok.conf', ['b'], []]]);
  });
});

test('as root, a file writable by group or others is refused; its siblings load', { skip: !isRoot && 'needs root: superd checks who owns and may write its files only when it runs as root' }, async () => {
  await withDir({ 'a.conf': svc('a', 1), 'b.conf': svc('b', 2), 'c.conf': svc('c', 3) }, async (dir) => {
    await chmod(path.join(dir, 'b.conf'), 0o666);
    await chmod(path.join(dir, 'c.conf'), 0o664);
    const r = await load(dir, { selfUid: 0 });
    assert.deepEqual(summary(r), [['a.conf', ['a'], []], ['b.conf', [], ['0:unsafe_file']], ['c.conf', [], ['0:unsafe_file']]]);
    const file = path.join(dir, 'b.conf');
    assert.equal(
      r.files[1]?.errors[0]?.message,
      `service file '${file}' is writable by group and others: anyone who can write it could run programs as root; refused until you run: chmod go-w '${file}'`,
    );
    assert.match(r.files[2]?.errors[0]?.message ?? '', /writable by group:/);
    // Not being root, superd has nothing to protect.
    assert.deepEqual(summary(await load(dir, { selfUid: 1001, selfGid: 1001 })).map((f) => f[2]), [[], [], []]);
  });
});

test('as root, a file not owned by root is refused', { skip: !isRoot && 'needs root: superd checks who owns and may write its files only when it runs as root' }, async () => {
  await withDir({ 'a.conf': svc('a', 1), 'b.conf': svc('b', 2) }, async (dir) => {
    const file = path.join(dir, 'a.conf');
    await chown(file, 1001, 0);
    const r = await load(dir, { selfUid: 0 });
    assert.deepEqual(summary(r), [['a.conf', [], ['0:unsafe_file']], ['b.conf', ['b'], []]]);
    assert.match(r.files[0]?.errors[0]?.message ?? '', /is owned by uid 1001, not root: .*chown root '/);
  });
});

test('as root, an unsafe services dir is fatal', { skip: !isRoot && 'needs root: superd checks who owns and may write its files only when it runs as root' }, async () => {
  await withDir({ 'a.conf': svc('a', 1) }, async (dir) => {
    await chmod(dir, 0o777);
    const r = await load(dir, { selfUid: 0 });
    assert.deepEqual(r.files, []);
    assert.equal(r.fatal?.code, 'unsafe_dir');
    assert.match(r.fatal?.message ?? '', /services dir '.*' is writable by group and others: .*chmod go-w/);
    await chmod(dir, 0o755);
    await chown(dir, 1001, 0);
    assert.match((await load(dir, { selfUid: 0 })).fatal?.message ?? '', /owned by uid 1001, not root/);
    await chown(dir, 0, 0);
    assert.equal((await load(dir, { selfUid: 0 })).fatal, null);
  });
});

test('without injected databases the system files are read', async () => {
  await withDir({ 'a.conf': '[git]\nport = git\nserver = /usr/bin/git\n' }, async (dir) => {
    const r = await loadServicesDir(dir);
    assert.equal(r.fatal, null);
    assert.deepEqual(r.files[0]?.errors, []);
    assert.equal(r.files[0]?.services[0]?.port, 9418);
  });
});
