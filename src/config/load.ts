// The services dir -> every file's valid services and every problem. Files are
// independent (a broken file never hides another's services), except for what
// must be unique across the directory: service names and listen addresses,
// where the later file (lexical order) is the one in error.

import { constants, type Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { configError, type ConfigError } from '../errors.js';
import { describeAddress, type ServiceDefinition } from './types.js';
import { FileProblems } from './problems.js';
import { scanIni } from './scan.js';
import { nearest, noSuggestion } from './suggest.js';
import { loadPortDb, loadUserDb, type PortDb, type UserDb } from './systemdb.js';
import { checkProgram, validateSection, type ValidateContext } from './validate.js';
import { looksForeign } from './foreign.js';

export interface FileResult {
  file: string;
  /** The sections that validated, even when other sections of the file did not. */
  services: ServiceDefinition[];
  /** The first MAX_PROBLEMS_PER_FILE in line order, then one `more_errors` summary if there were more. */
  errors: ConfigError[];
  /**
   * What does not stop a service but is probably a mistake (a value with
   * ` #` or ` ;` in it: a comment on the wrong line), limited as errors are.
   * `superd check` prints them as `FILE:LINE: [service] warning: message`.
   */
  warnings: ConfigError[];
}

export interface LoadResult {
  files: FileResult[];
  /** The directory itself is missing, unreadable or unsafe: nothing was read. */
  fatal: ConfigError | null;
}

export interface LoadOptions {
  /** superd's uid and gid; default: the process's. Root turns on the ownership checks. */
  selfUid?: number;
  selfGid?: number;
  /** Default: read from /etc/passwd, /etc/group and /etc/services. */
  passwd?: UserDb;
  ports?: PortDb;
}

/** A service file larger than this is certainly not one; refusing it keeps a mistake cheap. */
const MAX_FILE_BYTES = 1 << 20;

export async function loadServicesDir(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const selfUid = opts.selfUid ?? process.getuid?.() ?? 0;
  const [passwd, ports] = await Promise.all([opts.passwd ?? loadUserDb(), opts.ports ?? loadPortDb()]);
  const selfGid = opts.selfGid ?? defaultGid(selfUid, passwd);
  const ctx: ValidateContext = { passwd, ports, selfUid, selfGid };

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

  const files = await loadFiles(names.filter(isServiceFileName).sort(byCodePoint).map((name) => path.join(dir, name)), ctx);
  return { files, fatal: null };
}

/** `superd check FILE`: one service file on its own, read and judged as the daemon would. */
export async function loadOneFile(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const selfUid = opts.selfUid ?? process.getuid?.() ?? 0;
  const [passwd, ports] = await Promise.all([opts.passwd ?? loadUserDb(), opts.ports ?? loadPortDb()]);
  const ctx: ValidateContext = { passwd, ports, selfUid, selfGid: opts.selfGid ?? defaultGid(selfUid, passwd) };
  try {
    if (!(await stat(file)).isFile()) return { files: [], fatal: configError('unreadable', file, 0, null, `'${file}' is not a regular file`) };
  } catch (e) {
    return { files: [], fatal: configError('unreadable', file, 0, null, `cannot read '${file}': ${errnoText(e)}`) };
  }
  return { files: await loadFiles([file], ctx), fatal: null };
}

async function loadFiles(paths: string[], ctx: ValidateContext): Promise<FileResult[]> {
  const files: FileResult[] = [];
  const claims = new Claims();
  const programs = new ProgramChecks();
  // One file at a time: a large directory must not cost one descriptor per file.
  for (const file of paths) {
    const text = await readServiceFile(file, ctx.selfUid);
    if (text === null) continue; // not a regular file
    if (typeof text !== 'string') {
      files.push({ file, services: [], errors: [text], warnings: [] });
      continue;
    }
    const loaded = loadFile(file, text, ctx, claims);
    files.push(await programs.judge(loaded));
  }
  return files;
}

/**
 * A `server` that is missing or not executable is an error when the file is
 * read, for `check` and the daemon alike: a typo saved under --watch must not
 * replace a working service with one that fails every connection (the file
 * keeps what it served, SPEC §4). A program removed later is spawn_failed
 * per connection. Each program is looked at once per load.
 */
class ProgramChecks {
  private readonly seen = new Map<string, Promise<string | null>>();

  async judge(loaded: LoadedFile): Promise<FileResult> {
    const { file, services, serverLines, warnings } = loaded;
    const bad: ConfigError[] = [];
    const good: ServiceDefinition[] = [];
    for (const def of services) {
      const problem = def.handler.kind === 'server' && !def.disabled ? await this.check(def.handler.program) : null;
      if (problem === null) good.push(def);
      else bad.push(configError('bad_program', file, serverLines.get(def) ?? def.origin.line, def.name, problem));
    }
    if (bad.length === 0) return { file, services, errors: loaded.errors, warnings };
    const errors = new FileProblems(file, 'error');
    [...loaded.errors, ...bad].forEach(errors.push);
    return { file, services: good, errors: errors.list(), warnings };
  }

  private check(program: string): Promise<string | null> {
    let found = this.seen.get(program);
    if (found === undefined) {
      found = checkProgram(program);
      this.seen.set(program, found);
    }
    return found;
  }
}

/** Editor backups (`x.conf~`), package leftovers (`x.conf.dpkg-old`) and hidden files are not services. */
export function isServiceFileName(name: string): boolean {
  return name.endsWith('.conf') && !name.startsWith('.');
}

/** Code-point order, the same in every locale (UTF-8 byte order is code-point order). */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function defaultGid(selfUid: number, passwd: UserDb): number {
  if (selfUid === process.getuid?.()) return process.getgid?.() ?? 0;
  return passwd.users.find((u) => u.uid === selfUid)?.gid ?? selfUid;
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'it does not exist';
    case 'EACCES': return 'permission denied';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    default: return err.message;
  }
}

/** Why root must not trust what others can write (as sshd's StrictModes), or null. */
function unsafeReason(what: string, target: string, st: Stats): string | null {
  const risk = 'anyone who can write it could run programs as root';
  if (st.uid !== 0) {
    return `${what} '${target}' is owned by uid ${st.uid}, not root: ${risk}; refused until you run: chown root '${target}'`;
  }
  if ((st.mode & 0o022) !== 0) {
    const who = (st.mode & 0o020 ? ['group'] : []).concat(st.mode & 0o002 ? ['others'] : []).join(' and ');
    return `${what} '${target}' is writable by ${who}: ${risk}; refused until you run: chmod go-w '${target}'`;
  }
  return null;
}

/** The text, a file-level error, or null when the entry is not a regular file (ignored). */
async function readServiceFile(file: string, selfUid: number): Promise<string | ConfigError | null> {
  const fileError = (code: string, message: string): ConfigError => configError(code, file, 0, null, message);
  try {
    // stat follows symlinks: a.conf -> /usr/share/x/a.conf is a regular file.
    if (!(await stat(file)).isFile()) return null;
    // O_NONBLOCK: should the name turn into a FIFO after the stat, open must not hang the daemon.
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile()) return null;
      const unsafe = selfUid === 0 ? unsafeReason('service file', file, st) : null;
      if (unsafe !== null) return fileError('unsafe_file', unsafe);
      if (st.size > MAX_FILE_BYTES) {
        return fileError('unreadable', `service file is ${st.size} bytes; at most ${MAX_FILE_BYTES} are read`);
      }
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    return fileError('unreadable', `cannot read service file: ${errnoText(e)}`);
  }
}

interface LoadedFile extends FileResult {
  /** Where each service's `server =` is, for an error about its program. */
  serverLines: Map<ServiceDefinition, number>;
}

function loadFile(file: string, text: string, ctx: ValidateContext, claims: Claims): LoadedFile {
  // An xinetd or inetd.conf file dropped into the services dir is one error
  // that says so, not one per line.
  const foreign = looksForeign(text);
  if (foreign !== null) {
    const message =
      `this is an ${foreign.syntax === 'xinetd' ? 'xinetd' : 'inetd.conf'} file, not a superd service file: move it out of ` +
      `the services dir and convert it with 'superd convert ${file} -o DIR' (see MIGRATION in superd(8))`;
    return { file, services: [], errors: [configError('foreign_syntax', file, foreign.line, null, message)], warnings: [], serverLines: new Map() };
  }
  // A file of junk has an error on every line: only the first few are kept,
  // and no work is spent on the hints of those that will not be shown.
  const errors = new FileProblems(file, 'error');
  const warnings = new FileProblems(file, 'warning');
  const scanned = scanIni(file, text, errors);
  const services: ServiceDefinition[] = [];
  const serverLines = new Map<ServiceDefinition, number>();
  for (const section of scanned.sections) {
    const nameClash = claims.claimName(section.name, file, section.line);
    if (nameClash !== null) {
      errors.push(
        configError('conflict', file, section.line, section.name,
          `service name '${section.name}' is already defined at ${nameClash}: rename one of them`),
      );
    }
    const suggest = errors.wants(section.line) ? nearest : noSuggestion;
    const result = validateSection(file, section, { ...ctx, suggest });
    result.errors.forEach(errors.push);
    result.warnings.forEach(warnings.push);
    const def = result.definition;
    if (def === null || nameClash !== null) continue;
    // A disabled service holds no socket, so it may share an address with its alternative.
    if (!def.disabled) {
      const clash = claims.claimAddress(def);
      if (clash !== null) {
        const line = result.keyLines.get('port') ?? result.keyLines.get('path') ?? section.line;
        errors.push(
          configError('conflict', file, line, def.name,
            `listen address ${describeAddress(def)} is already taken by [${clash.name}] at ` +
              `${clash.origin.file}:${clash.origin.line} (${describeAddress(clash)}): change port, bind or path`),
        );
        continue;
      }
    }
    services.push(def);
    const serverLine = result.keyLines.get('server');
    if (serverLine !== undefined) serverLines.set(def, serverLine);
  }
  return { file, services, errors: errors.list(), warnings: warnings.list(), serverLines };
}

/**
 * The names and addresses taken so far, in file order. Addresses are kept by
 * transport and port (or socket path): only services there can overlap, so
 * each claim looks at a handful, and a directory of 10,000 services loads in
 * linear time.
 */
class Claims {
  private readonly names = new Map<string, string>();
  private readonly listeners = new Map<string, ServiceDefinition[]>();

  /** Takes the name, or returns `file:line` of whoever has it. */
  claimName(name: string, file: string, line: number): string | null {
    const holder = this.names.get(name);
    if (holder !== undefined) return holder;
    this.names.set(name, `${file}:${line}`);
    return null;
  }

  /** Takes the address, or returns the service that has an overlapping one. */
  claimAddress(def: ServiceDefinition): ServiceDefinition | null {
    const key = conflictBucket(def);
    const bucket = this.listeners.get(key);
    const holder = bucket?.find((l) => listenConflict(l, def));
    if (holder !== undefined) return holder;
    if (bucket === undefined) this.listeners.set(key, [def]);
    else bucket.push(def);
    return null;
  }
}

// ---------------------------------------------------------------------------
// Overlapping listen addresses

interface Endpoint {
  transport: 'tcp' | 'udp' | 'unix';
  port: number;
  path: string;
  /** What it listens on; address `*` is any address of the family. */
  slots: { family: number; address: string }[];
}

function endpoint(def: ServiceDefinition): Endpoint {
  if (def.protocol === 'unix') return { transport: 'unix', port: 0, path: def.path ?? '', slots: [] };
  const transport = def.protocol.startsWith('udp') ? 'udp' : 'tcp';
  const dual = def.protocol === 'tcp' || def.protocol === 'udp';
  const families = dual ? [4, 6] : def.protocol.endsWith('4') ? [4] : [6];
  const port = def.port ?? 0;
  const any = (fs: number[]): Endpoint => ({ transport, port, path: '', slots: fs.map((family) => ({ family, address: '*' })) });
  if (def.bind === null) return any(families);
  if (def.bind === '0.0.0.0') return any([4]);
  // Like no bind at all: a dual-stack `::` socket also takes the IPv4 wildcard.
  if (canonicalIp(def.bind) === '::') return any(dual ? [4, 6] : [6]);
  return { transport, port, path: '', slots: [{ family: isIP(def.bind), address: canonicalIp(def.bind) }] };
}

/** One spelling per IPv6 address (`0:0::1` is `::1`); IPv4 literals that isIP accepts are canonical already. */
function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase(); // zone ids (`fe80::1%eth0`) do not parse as URLs
  }
}

/** Services can only overlap within one bucket: the same transport and port, or the same socket file. */
export function conflictBucket(def: ServiceDefinition): string {
  if (def.protocol === 'unix') return `unix:${def.path ?? ''}`;
  return `${def.protocol.startsWith('udp') ? 'udp' : 'tcp'}:${def.port ?? 0}`;
}

/**
 * Whether two services would need the same socket, or sockets the kernel
 * would not both bind: a wildcard takes every address of its family on that
 * port, and `tcp` (dual stack) takes both families.
 */
export function listenConflict(a: ServiceDefinition, b: ServiceDefinition): boolean {
  const ea = endpoint(a);
  const eb = endpoint(b);
  if (ea.transport !== eb.transport) return false;
  if (ea.transport === 'unix') return ea.path === eb.path;
  if (ea.port !== eb.port) return false;
  return ea.slots.some((sa) =>
    eb.slots.some(
      (sb) => sa.family === sb.family && (sa.address === '*' || sb.address === '*' || sa.address === sb.address),
    ),
  );
}
