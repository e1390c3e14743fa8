// `-o DIR`: one `.conf` per input file, never over an existing file. Every
// target is checked before the first is written, and each is created with
// O_EXCL, so a conflict (even one that appears meanwhile) leaves DIR as it
// was: the files this run had written are removed again.

import { chmod, lstat, mkdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fail, ok, type Result } from '../errors.js';
import { convertError, type ConvertError } from './types.js';

export interface OutFile {
  /** The input file it came from. */
  source: string;
  text: string;
}

/** `inetd.conf` -> `inetd.conf`, `echo-udp` -> `echo-udp.conf`: a name superd reads, unique in the set. */
function outputNames(sources: readonly string[]): string[] {
  const used = new Set<string>();
  return sources.map((s) => {
    const base = path.basename(s).replace(/^\.+/, '').replace(/\.conf$/, '').replace(/[^A-Za-z0-9_.-]+/g, '-') || 'converted';
    let name = `${base}.conf`;
    for (let i = 2; used.has(name); i++) name = `${base}-${i}.conf`;
    used.add(name);
    return name;
  });
}

const exists = (p: string): Promise<boolean> => lstat(p).then(() => true, () => false);

export async function writeFiles(dir: string, files: readonly OutFile[]): Promise<Result<string[], ConvertError>> {
  const targets = outputNames(files.map((f) => f.source)).map((n) => path.join(dir, n));
  const present: string[] = [];
  for (const t of targets) if (await exists(t)) present.push(t);
  if (present.length > 0) {
    return fail(convertError('exists', present[0] as string, 0,
      `already exists${present.length > 1 ? ` (and ${present.length - 1} more)` : ''}: superd convert never overwrites; move it away or choose another -o directory`));
  }
  try {
    // superd as root refuses a dir or file that group or others may write: the umask must not decide that.
    const created = await mkdir(dir, { recursive: true, mode: 0o755 });
    if (created !== undefined) await chmod(dir, 0o755);
  } catch (e) {
    return fail(convertError('unwritable', dir, 0, `cannot create the directory: ${(e as NodeJS.ErrnoException).code ?? String(e)}`));
  }
  const written: string[] = [];
  for (const [i, f] of files.entries()) {
    const target = targets[i] as string;
    try {
      await writeFile(target, f.text, { flag: 'wx', mode: 0o644 });
      written.push(target);
      await chmod(target, 0o644);
    } catch (e) {
      await Promise.all(written.map((w) => unlink(w).catch(() => undefined)));
      const code = (e as NodeJS.ErrnoException).code;
      return fail(convertError(code === 'EEXIST' ? 'exists' : 'unwritable', target, 0,
        code === 'EEXIST' ? 'appeared while converting: superd convert never overwrites; nothing was written' : `cannot write: ${code ?? String(e)}; nothing was written`));
    }
  }
  return ok(written);
}
