// The manual pages: they must pass `mandoc -Tlint`, and they must keep up with
// the code: every option `superd --help` shows, every key of a service file,
// every log event the daemon emits is documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEYS } from '../src/config/suggest.js';

// dist/test/man.test.js -> the repository root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['man/superd.8', 'man/superd.conf.5'];

/** SPEC §2, as written there; the parser's own list (KEYS, imported: renamed or moved, this file no longer compiles) is added. */
const SPEC_KEYS = [
  'protocol', 'port', 'bind', 'path', 'socket_mode', 'wait', 'server', 'args', 'builtin', 'user', 'group',
  'max_children', 'queue', 'max_per_source', 'rate', 'rate_per_source', 'only_from', 'no_access', 'env',
  'pass_env', 'timeout', 'stderr', 'disabled',
];

/** SPEC §6; the events found in src/ are added to these. */
const SPEC_EVENTS = [
  'listening', 'queued', 'accepted', 'exited', 'refused', 'spawn_failed', 'config_error', 'reload',
  'bind_failed', 'stderr', 'shutdown',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs: number): Promise<Run> {
  // superd reads every SUPERD_* variable as an option: keep the caller's out.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SUPERD_')) env[k] = v;
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')}: ${err.message}`));
        return;
      }
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

/** The page as a reader sees it: mandoc's ASCII output without overstrike. */
async function rendered(page: string): Promise<string> {
  const r = await run('mandoc', ['-Tascii', page], 10_000);
  assert.equal(r.code, 0, `mandoc -Tascii ${page}: ${r.stderr}`);
  return r.stdout.replace(/.\x08/g, '');
}

/** The text of one top-level section (`.Sh NAME`) of a rendered page. */
function section(text: string, name: string): string {
  const start = text.indexOf(`\n${name}\n`);
  assert.ok(start >= 0, `section ${name} is missing`);
  const rest = text.slice(start + name.length + 2);
  const next = rest.search(/\n[A-Z][A-Z ]+\n/);
  return next < 0 ? rest : rest.slice(0, next);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const hasWord = (text: string, word: string): boolean => new RegExp(`(^|[^\\w-])${escape(word)}($|[^\\w-])`, 'm').test(text);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (entry.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** `logger.log('info', 'accepted', …)` and `log(cond ? 'warn' : 'info', 'reload', …)` in src/. */
async function emittedEvents(): Promise<Set<string>> {
  const events = new Set<string>();
  const call = /\blog\(\s*([^,()]+?)\s*,\s*'([a-z][a-z0-9_]*)'/g;
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(call)) {
      if (/'(error|warn|info|debug)'/.test(m[1] ?? '')) events.add(m[2] ?? '');
    }
  }
  return events;
}

for (const page of PAGES) {
  test(`${page} passes mandoc -Tlint -W warning`, async () => {
    const r = await run('mandoc', ['-Tlint', '-W', 'warning', page], 10_000);
    assert.equal(`${r.stdout}${r.stderr}`, '', `mandoc -Tlint -W warning ${page} complained`);
    assert.equal(r.code, 0);
  });
}

test('superd.8 documents every option of superd --help, and its SUPERD_ variable', async () => {
  const help = await run(process.execPath, ['bin/superd', '--help'], 30_000);
  assert.equal(help.code, 0, help.stderr);
  const options = new Set<string>();
  for (const m of help.stdout.matchAll(/^\s+(?:(-[A-Za-z]), )?(--[a-z][a-z-]*)/gm)) {
    if (m[1] !== undefined) options.add(m[1]);
    options.add(m[2] ?? '');
  }
  for (const must of ['--services-dir', '-d', '--pid-file', '--control-socket', '--help', '--version']) {
    assert.ok(options.has(must), `--help no longer shows ${must}? parsed: ${[...options].join(' ')}`);
  }
  const page = await rendered('man/superd.8');
  const opts = section(page, 'OPTIONS');
  const missing = [...options].filter((o) => !hasWord(opts, o));
  assert.deepEqual(missing, [], 'options shown by --help but not in OPTIONS of superd.8');
  const envMissing = [...options]
    .filter((o) => o.startsWith('--') && o !== '--help' && o !== '--version')
    .map((o) => `SUPERD_${o.slice(2).toUpperCase().replace(/-/g, '_')}`)
    .filter((v) => !hasWord(opts, v));
  assert.deepEqual(envMissing, [], 'environment forms missing from OPTIONS of superd.8');
  const commands = section(page, 'COMMANDS');
  for (const command of ['run', 'check', 'reload', 'status']) {
    assert.match(commands, new RegExp(`^ {5}superd \\[?${command}\\b`, 'm'), `COMMANDS has no entry for superd ${command}`);
  }
});

test('superd.conf.5 has an entry for every key of SPEC §2 and of the parser', async () => {
  const keys = new Set<string>([...SPEC_KEYS, ...KEYS]);
  const text = section(await rendered('man/superd.conf.5'), 'KEYS');
  // Each key has its own entry: `     key = values`.
  const missing = [...keys].filter((k) => !new RegExp(`^ {5}${escape(k)} = `, 'm').test(text));
  assert.deepEqual(missing, [], 'keys without an entry in KEYS of superd.conf.5');
});

test('superd.8 documents every log event the code emits', async () => {
  const found = await emittedEvents();
  // The scan must see the calls at all, or this test proves nothing.
  for (const e of ['accepted', 'exited', 'reload', 'config_error']) {
    assert.ok(found.has(e), `no log('…', '${e}', …) call found in src/: has the logging call changed shape?`);
  }
  const events = new Set([...SPEC_EVENTS, ...found]);
  const logging = section(await rendered('man/superd.8'), 'LOGGING');
  // Each event has its own entry: `     event (level)`.
  const missing = [...events].filter((e) => !new RegExp(`^ {5}${escape(e)} \\(`, 'm').test(logging));
  assert.deepEqual(missing, [], 'events without an entry in LOGGING of superd.8');
});
