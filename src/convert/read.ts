// SOURCE -> the parsed input files. A directory is read as xinetd reads an
// `includedir`: every regular file whose name has no '.' and does not end in
// '~', in C-locale order. A file is detected as xinetd or inetd.conf syntax;
// an xinetd file's `include` and `includedir` are followed, relative paths
// from the including file's directory, each file once. One that cannot be
// read is skipped with a note, as xinetd skips it ("Unable to read included
// directory") and serves the rest; SOURCE itself must be readable.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fail, ok, type Result } from '../errors.js';
import { detectSyntax } from './detect.js';
import { parseInetd, type InetdFile } from './inetd.js';
import { convertError, type ConvertError } from './types.js';
import { parseXinetd, type XFile } from './xinetd.js';

export type Input =
  | { syntax: 'xinetd'; files: XFile[]; /** `FILE:LINE: …` for each include xinetd would skip, and why. */ skipped: string[] }
  | { syntax: 'inetd'; files: InetdFile[]; skipped: string[] };

/** A configuration file larger than this is certainly not one. */
const MAX_BYTES = 1 << 20;

type Where = { file: string; line: number };

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const codes: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'a part of the path is not a directory',
    ELOOP: 'too many symbolic links',
  };
  return codes[err.code ?? ''] ?? err.code ?? err.message;
}

async function readText(file: string, from: Where): Promise<Result<string, ConvertError>> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return fail(convertError('unreadable', from.file, from.line, `'${file}' is not a regular file`));
    if (st.size > MAX_BYTES) return fail(convertError('unreadable', from.file, from.line, `'${file}' is ${st.size} bytes: too large for a configuration file`));
    return ok(await readFile(file, 'utf8'));
  } catch (e) {
    return fail(convertError('unreadable', from.file, from.line, `cannot read '${file}': ${reason(e)}`));
  }
}

/** The files xinetd would read in DIR, in its order. */
async function listIncludeDir(dir: string, from: Where): Promise<Result<string[], ConvertError>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    return fail(convertError('unreadable', from.file, from.line, `cannot read directory '${dir}': ${reason(e)}`));
  }
  const files: string[] = [];
  for (const name of names.filter((n) => !n.includes('.') && !n.endsWith('~')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = path.join(dir, name);
    try {
      if ((await stat(file)).isFile()) files.push(file);
    } catch {
      // Gone, or a dangling link: xinetd skips it too.
    }
  }
  return ok(files);
}

class XinetdReader {
  readonly files: XFile[] = [];
  readonly skipped: string[] = [];
  private readonly seen = new Set<string>();

  async file(file: string, text: string | null, from: Where): Promise<ConvertError | null> {
    const real = await realpath(file).catch(() => file);
    if (this.seen.has(real)) return null;
    this.seen.add(real);
    let body = text;
    if (body === null) {
      const read = await readText(file, from);
      if (!read.ok) return read.error;
      body = read.value;
    }
    const parsed = parseXinetd(file, body);
    if (!parsed.ok) return parsed.error;
    this.files.push(parsed.value);
    for (const inc of parsed.value.includes) {
      const target = path.resolve(path.dirname(file), inc.path);
      const at = { file, line: inc.line };
      const problem = inc.kind === 'include' ? await this.file(target, null, at) : await this.dir(target, at);
      if (problem !== null && !this.skip(problem, at, `${inc.kind} ${inc.path}`)) return problem;
    }
    return null;
  }

  async dir(dir: string, from: Where): Promise<ConvertError | null> {
    const listed = await listIncludeDir(dir, from);
    if (!listed.ok) return listed.error;
    for (const file of listed.value) {
      const problem = await this.file(file, null, from);
      if (problem !== null && !this.skip(problem, from, `its file ${path.basename(file)}`)) return problem;
    }
    return null;
  }

  /**
   * Whether `problem` is a file or directory named at `from` that cannot be
   * read: xinetd says so and goes on, and so does the conversion, with a note.
   * Anything else (a file that is no xinetd file) stops it.
   */
  private skip(problem: ConvertError, from: Where, what: string): boolean {
    if (problem.code !== 'unreadable' || problem.file !== from.file || problem.line !== from.line) return false;
    const where = from.line > 0 ? `${from.file}:${from.line}` : from.file;
    this.skipped.push(`${where}: ${what} skipped: ${problem.message}; xinetd skips what it cannot read and serves the rest`);
    return true;
  }
}

export async function readSource(source: string): Promise<Result<Input, ConvertError>> {
  const whole: Where = { file: source, line: 0 };
  let isDir: boolean;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (e) {
    return fail(convertError('unreadable', source, 0, `cannot read: ${reason(e)}`));
  }
  const reader = new XinetdReader();
  if (isDir) {
    const problem = await reader.dir(source, whole);
    return problem === null ? ok<Input>({ syntax: 'xinetd', files: reader.files, skipped: reader.skipped }) : fail(problem);
  }
  const text = await readText(source, whole);
  if (!text.ok) return text;
  const syntax = detectSyntax(source, text.value);
  if (!syntax.ok) return syntax;
  if (syntax.value === 'inetd') {
    const parsed = parseInetd(source, text.value);
    return parsed.ok ? ok<Input>({ syntax: 'inetd', files: [parsed.value], skipped: [] }) : parsed;
  }
  const problem = await reader.file(source, text.value, whole);
  return problem === null ? ok<Input>({ syntax: 'xinetd', files: reader.files, skipped: reader.skipped }) : fail(problem);
}
