// Users and groups through NSS (getpwnam_r, getpwuid_r, getgrnam_r): whatever
// /etc/nsswitch.conf names answers them (files, LDAP, sssd, extrausers…), as
// it answers every other program on the host. A lookup can block on the
// network, so each runs on a libuv pool thread (koffi's async call), never
// on the event loop. Bound apart from load.ts's Sys: these answer with a
// promise, and `superd check` needs nothing else of the native layer.
//
// struct passwd and struct group are glibc's on LP64: declared here, where
// they are read, and laid out by koffi.
import { SysError, errnoError } from './errors.js';
import { koffi, libcFunction, type KoffiFunction, type KoffiType } from './koffi.js';
import { unsupportedHost } from './load.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

/** The entry; null when no source knows it; a SysError when a source could not answer (LDAP down, no memory…). */
export type Lookup<T> = T | null | SysError;

export interface NssCalls {
  getpwnam(name: string): Promise<Lookup<PasswdEntry>>;
  getpwuid(uid: number): Promise<Lookup<PasswdEntry>>;
  getgrnam(name: string): Promise<Lookup<GroupEntry>>;
}

const ENOENT = 2;
const ERANGE = 34;
/** The first buffer for the strings of an entry (glibc's _SC_GETPW_R_SIZE_MAX is 1024); doubled on ERANGE. */
const FIRST_BUFFER = 1024;
/** A group of a directory can list tens of thousands of members: past this, the lookup is a failure, not a retry forever. */
const LAST_BUFFER = 64 * 1024 * 1024;

interface Declared {
  passwd: KoffiType;
  group: KoffiType;
  getpwnam: KoffiFunction;
  getpwuid: KoffiFunction;
  getgrnam: KoffiFunction;
}

/** Calls fn on a pool thread: its return value (0 or an errno value), or an errno-like failure when koffi refused the call. */
function onPool(fn: KoffiFunction, args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    try {
      fn.async(...args, (err: unknown, rc: number) => (err === null || err === undefined ? resolve(rc) : reject(err)));
    } catch (err) {
      reject(err);
    }
  });
}

/**
 * One `_r` lookup: 0 with *result set is the entry, 0 with it NULL is "not
 * found" (so is ENOENT, which some modules return); ERANGE asks for a bigger
 * buffer; any other value is the reason the lookup failed.
 */
async function lookup<T>(fn: KoffiFunction, what: string, key: unknown, struct: KoffiType, read: (decoded: Record<string, unknown>) => T): Promise<Lookup<T>> {
  const k = koffi();
  const entry = Buffer.alloc(struct.size);
  const result = Buffer.alloc(8);
  for (let size = FIRST_BUFFER; ; size *= 2) {
    const strings = Buffer.alloc(size);
    let rc: number;
    try {
      rc = await onPool(fn, [key, entry, strings, size, result]);
    } catch (err) {
      return new SysError('EAGAIN', `${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (rc === ERANGE) {
      if (size * 2 > LAST_BUFFER) return new SysError('ERANGE', `${what}: the entry is larger than ${LAST_BUFFER} bytes`);
      continue;
    }
    if (rc === ENOENT || (rc === 0 && result.readBigUInt64LE(0) === 0n)) return null;
    if (rc !== 0) return errnoError(rc, what);
    return read(k.decode(entry, 0, struct) as Record<string, unknown>);
  }
}

let declared: Declared | SysError | undefined;

function declare(): Declared | SysError {
  if (declared !== undefined) return declared;
  const unsupported = unsupportedHost();
  if (unsupported !== null) return (declared = new SysError('ENOSYS', unsupported));
  try {
    const k = koffi();
    // Only the names are read as strings; the other pointers stay pointers.
    const passwd = k.struct({ pw_name: 'const char *', pw_passwd: 'void *', pw_uid: 'uint32_t', pw_gid: 'uint32_t', pw_gecos: 'void *', pw_dir: 'void *', pw_shell: 'void *' });
    const group = k.struct({ gr_name: 'const char *', gr_passwd: 'void *', gr_gid: 'uint32_t', gr_mem: 'void *' });
    if (k.sizeof(passwd) !== 48 || k.sizeof(group) !== 32) throw new Error('struct passwd or group is not the LP64 glibc layout here');
    declared = {
      passwd,
      group,
      getpwnam: libcFunction('int getpwnam_r(const char *name, void *pwd, void *buf, size_t buflen, void *result)'),
      getpwuid: libcFunction('int getpwuid_r(uint32_t uid, void *pwd, void *buf, size_t buflen, void *result)'),
      getgrnam: libcFunction('int getgrnam_r(const char *name, void *grp, void *buf, size_t buflen, void *result)'),
    };
  } catch (err) {
    declared = new SysError('ENOSYS', `native calls unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  return declared;
}

const userOf = (d: Record<string, unknown>): PasswdEntry => ({ name: String(d.pw_name), uid: Number(d.pw_uid), gid: Number(d.pw_gid) });
const groupOf = (d: Record<string, unknown>): GroupEntry => ({ name: String(d.gr_name), gid: Number(d.gr_gid) });

/** The NSS lookups, or why this host cannot have them (code ENOSYS). */
export function loadNss(): NssCalls | SysError {
  const d = declare();
  if (d instanceof SysError) return d;
  return {
    getpwnam: (name) => lookup(d.getpwnam, 'getpwnam_r', name, d.passwd, userOf),
    getpwuid: (uid) => lookup(d.getpwuid, 'getpwuid_r', uid, d.passwd, userOf),
    getgrnam: (name) => lookup(d.getgrnam, 'getgrnam_r', name, d.group, groupOf),
  };
}
