// bench/loadgen.c is compiled at run time (cc -O2) into bench/.build/loadgen when missing or older.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { which } from './host.js';
import { BUILD, LOADGEN, LOADGEN_SRC, ROOT } from './paths.js';

/** Builds loadgen if needed; throws with the reason (and a hint) when it cannot. */
export function buildLoadgen(): void {
  let need = true;
  try { need = fs.statSync(LOADGEN).mtimeMs < fs.statSync(LOADGEN_SRC).mtimeMs; } catch {}
  if (!need) return;
  const cc = which('cc') ?? which('gcc') ?? which('clang');
  if (!cc) throw new Error('no C compiler found (cc) to build bench/loadgen.c. Hint: apt-get install gcc');
  fs.mkdirSync(BUILD, { recursive: true });
  // With OpenSSL's headers, loadgen also speaks TLS (-S: the tls service kind); without them it is built without.
  const tls = fs.existsSync('/usr/include/openssl/ssl.h') ? ['-DLOADGEN_TLS'] : [];
  const r = spawnSync(cc, ['-O2', '-Wall', ...tls, '-o', LOADGEN, LOADGEN_SRC, '-lm', ...(tls.length ? ['-lssl', '-lcrypto'] : [])], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`compiling loadgen failed:\n${r.stderr}${r.error ?? ''}`);
  process.stderr.write(`bench: built ${path.relative(ROOT, LOADGEN)} with ${cc} -O2${tls.length ? ' (with TLS)' : ' (without TLS: no /usr/include/openssl/ssl.h)'}\n`);
}
