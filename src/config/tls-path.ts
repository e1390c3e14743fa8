// Reading a TLS service's PEM files (tls_cert, tls_key, tls_client_ca) as
// root may: superd, as root, must not be made to serve a key someone else
// chose, nor read one through a link someone else planted. So when superd
// runs as root the path is walked from / one component at a time (lstat,
// never following anything unseen): every directory and every symlink on
// the way, and the file, must be root's, and no directory writable by group
// or others unless it is sticky (/tmp: there others cannot replace root's
// entries, and every entry is checked to be root's anyway). A link root made
// is followed, as certbot's live/ links are. The file is then opened with
// O_NOFOLLOW and checked to be the very file looked at. A private key
// readable by group or others is refused (as sshd refuses such keys). As
// another user superd reads the file as it is: whatever it can read is its
// own business. Asynchronous throughout: a reload never blocks the event loop.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoText } from './read.js';

/** A PEM file larger than this is certainly not one (a CA bundle is a few hundred KiB). */
export const MAX_PEM_BYTES = 1 << 20;
/** The sticky bit (Node's constants do not name it). */
const S_ISVTX = 0o1000;
/** Symlinks followed on one path, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40;

/** The file's bytes, or the whole message for the operator. */
export type PemRead = { ok: true; data: Buffer } | { ok: false; error: string };

const refuse = (error: string): PemRead => ({ ok: false, error });

/** `what` is the key as the operator wrote it (tls_cert…), `secret` for a private key. */
export async function readPem(what: string, file: string, asRoot: boolean, secret: boolean): Promise<PemRead> {
  try {
    const target = asRoot ? await trustedPath(what, file) : { ok: true as const, path: file, st: null };
    if (!target.ok) return refuse(target.error);
    // O_NONBLOCK: should the name turn into a FIFO meanwhile, open must not hang the daemon.
    const handle = await open(target.path, constants.O_RDONLY | constants.O_NONBLOCK | (asRoot ? constants.O_NOFOLLOW : 0));
    try {
      const st = await handle.stat();
      if (!st.isFile()) return refuse(`${what} '${file}' is not a regular file`);
      if (target.st !== null && (st.dev !== target.st.dev || st.ino !== target.st.ino)) return refuse(`${what} '${file}' changed while it was read: try again`);
      const loose = asRoot ? looseFile(what, file, st, secret) : null;
      if (loose !== null) return refuse(loose);
      if (st.size > MAX_PEM_BYTES) return refuse(`${what} '${file}' is ${st.size} bytes: a PEM file is at most ${MAX_PEM_BYTES}`);
      return { ok: true, data: await handle.readFile() };
    } finally {
      await handle.close();
    }
  } catch (e) {
    return refuse(`cannot read ${what} '${file}': ${errnoText(e)}`);
  }
}

/** Why root must not use the file as it is (owner, mode), or null. */
function looseFile(what: string, file: string, st: Stats, secret: boolean): string | null {
  if (st.uid !== 0) return `${what} '${file}' is owned by uid ${st.uid}, not root: refused until you run: chown root '${file}'`;
  if ((st.mode & 0o022) !== 0) return `${what} '${file}' is writable by ${whom(st.mode, 0o020, 0o002)}: refused until you run: chmod go-w '${file}'`;
  if (secret && (st.mode & 0o044) !== 0) {
    return `${what} '${file}' is readable by ${whom(st.mode, 0o040, 0o004)}: whoever reads a private key can pose as the service; refused until you run: chmod go-rwx '${file}'`;
  }
  return null;
}

function whom(mode: number, group: number, others: number): string {
  return [(mode & group) !== 0 ? 'group' : '', (mode & others) !== 0 ? 'others' : ''].filter((w) => w !== '').join(' and ');
}

/**
 * The path with every symlink on it resolved, each component looked at as
 * root must (see the top), and what the file itself was when looked at.
 */
async function trustedPath(what: string, file: string): Promise<{ ok: true; path: string; st: Stats } | { ok: false; error: string }> {
  const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });
  let pending = file.split('/').filter((c) => c !== '' && c !== '.');
  let at = '/';
  let links = 0;
  for (;;) {
    const dir = await lstat(at);
    if (dir.uid !== 0) return fail(`${what} '${file}': the directory '${at}' is owned by uid ${dir.uid}, not root: its owner could put another file there; refused`);
    if ((dir.mode & 0o022) !== 0 && (dir.mode & S_ISVTX) === 0) {
      return fail(`${what} '${file}': the directory '${at}' is writable by ${whom(dir.mode, 0o020, 0o002)}: they could put another file there; refused`);
    }
    const name = pending.shift();
    if (name === undefined) return fail(`${what} '${file}' is a directory`);
    if (name === '..') {
      at = path.dirname(at);
      continue;
    }
    const next = path.join(at, name);
    const st = await lstat(next);
    if (st.uid !== 0) return fail(`${what} '${file}': '${next}' is owned by uid ${st.uid}, not root: refused until you run: chown root '${next}'`);
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return fail(`${what} '${file}': too many symbolic links`);
      const to = await readlink(next);
      pending = [...to.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
      if (to.startsWith('/')) at = '/';
      continue;
    }
    if (pending.length === 0) return { ok: true, path: next, st };
    if (!st.isDirectory()) return fail(`${what} '${file}': '${next}' is not a directory`);
    at = next;
  }
}
