// The services dir -> every file's valid services and every problem. Files are
// independent (a broken file never hides another's services), except for what
// must be unique across the directory: service names and listen addresses,
// where the later file (lexical order) is the one in error (claims.ts). Each
// file is read as root may trust it (read.ts); then the users and groups
// every file names are looked up through NSS, all at once (users.ts); then
// each file is judged section by section (file.ts), and its programs looked
// at (program.ts).

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { configError, type ConfigError } from '../errors.js';
import { Claims } from './claims.js';
import { loadFile, type FileResult } from './file.js';
import { ProgramChecks } from './program.js';
import { TlsFiles } from './tls-files.js';
import { errnoText, readServiceFile, unsafeReason } from './read.js';
import { loadPortDb, userIndex, type PortDb, type UserDb } from './systemdb.js';
import { readProcessFacts, type ProcessFacts } from './process-facts.js';
import { usersNamedIn } from './users.js';
import type { ValidateContext } from './validate.js';

export interface LoadResult {
  files: FileResult[];
  /** The directory itself is missing, unreadable or unsafe: nothing was read. */
  fatal: ConfigError | null;
}

export interface LoadOptions {
  /** superd's uid and gid; default: the process's. Root turns on the ownership checks. */
  selfUid?: number;
  selfGid?: number;
  /** Default: NSS's answers for the users and groups the files name (users.ts). */
  passwd?: UserDb;
  /** Default: read from /etc/services. */
  ports?: PortDb;
  /** Default: read from /proc and the file system (process-facts.ts). */
  facts?: ProcessFacts;
}

export async function loadServicesDir(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const selfUid = selfUidOf(opts);
  const fatal = (code: string, message: string): LoadResult => ({
    files: [],
    fatal: configError(code, dir, 0, null, message),
  });
  let names: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return fatal('unreadable', `services dir '${dir}' is not a directory`);
    const unsafe = selfUid === 0 ? unsafeReason('services dir', dir, st) : null;
    if (unsafe !== null) return fatal('unsafe_dir', unsafe);
    names = await readdir(dir);
  } catch (e) {
    return fatal('unreadable', `cannot read services dir '${dir}': ${errnoText(e)}`);
  }

  const files = await loadFiles(names.filter(isServiceFileName).sort(byCodePoint).map((name) => path.join(dir, name)), opts);
  return { files, fatal: null };
}

/** `superd check FILE`: one service file on its own, read and judged as the daemon would. */
export async function loadOneFile(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  try {
    if (!(await stat(file)).isFile()) return { files: [], fatal: configError('unreadable', file, 0, null, `'${file}' is not a regular file`) };
  } catch (e) {
    return { files: [], fatal: configError('unreadable', file, 0, null, `cannot read '${file}': ${errnoText(e)}`) };
  }
  return { files: await loadFiles([file], opts), fatal: null };
}

async function loadFiles(paths: string[], opts: LoadOptions): Promise<FileResult[]> {
  const selfUid = selfUidOf(opts);
  // One file at a time: a large directory must not cost one descriptor per file.
  const read: { file: string; text: string | ConfigError }[] = [];
  for (const file of paths) {
    const text = await readServiceFile(file, selfUid);
    if (text !== null) read.push({ file, text }); // null: not a regular file
  }
  const ctx = await validateContext(opts, read.flatMap((r) => (typeof r.text === 'string' ? [r.text] : [])));
  const files: FileResult[] = [];
  const claims = new Claims();
  const programs = new ProgramChecks();
  const tlsFiles = new TlsFiles(selfUid === 0);
  for (const { file, text } of read) {
    if (typeof text !== 'string') {
      files.push({ file, services: [], errors: [text], warnings: [] });
      continue;
    }
    files.push(await programs.judge(await tlsFiles.judge(loadFile(file, text, ctx, claims))));
  }
  return files;
}

/** Editor backups (`x.conf~`), package leftovers (`x.conf.dpkg-old`) and hidden files are not services. */
export function isServiceFileName(name: string): boolean {
  return name.endsWith('.conf') && !name.startsWith('.');
}

/** Code-point order, the same in every locale (UTF-8 byte order is code-point order). */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const selfUidOf = (opts: LoadOptions): number => opts.selfUid ?? process.getuid?.() ?? 0;

/**
 * Who superd is, and the system databases, as validation needs them: from
 * opts, else from the process, NSS (the users and groups `texts` name) and /etc/services.
 */
async function validateContext(opts: LoadOptions, texts: readonly string[]): Promise<ValidateContext> {
  const selfUid = selfUidOf(opts);
  const [passwd, ports, facts] = await Promise.all([opts.passwd ?? usersNamedIn(texts, selfUid), opts.ports ?? loadPortDb(), opts.facts ?? readProcessFacts()]);
  return { passwd, ports, selfUid, selfGid: opts.selfGid ?? defaultGid(selfUid, passwd), facts };
}

function defaultGid(selfUid: number, passwd: UserDb): number {
  if (selfUid === process.getuid?.()) return process.getgid?.() ?? 0;
  return userIndex(passwd).userByUid.get(selfUid)?.gid ?? selfUid;
}

