// The file each listening unix socket of this network namespace was bound
// at, asked of the kernel (sock_diag over netlink, what `ss -xl` shows as
// ino:/dev:). /proc/net/unix cannot say it: it shows the path given to bind,
// and superd binds in a private directory and links the socket to its name
// afterwards (listen/unixpath.ts), so every path there is /proc/self/fd/N/s.
import { fail, ok, type Result } from '../errors.js';
import { O_CLOEXEC, O_NONBLOCK } from '../sys/constants.js';
import { strerror } from '../sys/errors.js';
import { loadSys } from '../sys/load.js';

// The numbers of linux/netlink.h, linux/sock_diag.h and linux/unix_diag.h this module uses: read only here.
const NL = {
  AF_NETLINK: 16,
  AF_UNIX: 1,
  SOCK_RAW: 3,
  NETLINK_SOCK_DIAG: 4,
  SOCK_DIAG_BY_FAMILY: 20,
  NLM_F_REQUEST: 0x1,
  NLM_F_DUMP: 0x300,
  NLMSG_ERROR: 2,
  NLMSG_DONE: 3,
  TCP_LISTEN: 10,
  UDIAG_SHOW_VFS: 0x2,
  UNIX_DIAG_VFS: 1,
  NLMSG_HEADER: 16,
  UNIX_DIAG_MSG: 16,
} as const;
/** A dump comes in parts of a page or a few; this holds any. */
const RECEIVE_ROOM = 64 * 1024;
/** Far more parts than a host with a million sockets needs: a bound, not a figure. */
const MAX_PARTS = 100000;

/** The file a socket was bound at: its inode, and its device as the kernel numbers devices (major << 20 | minor). */
export interface BoundFile {
  ino: number;
  dev: number;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** A device number as stat() gives it (glibc's encoding) in the kernel's own, which sock_diag reports. */
export function kernelDev(dev: number): number {
  const high = Math.floor(dev / 2 ** 32);
  const low = dev >>> 0;
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const minor = (low & 0xff) | ((low >>> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

/** The dump request: an nlmsghdr and a unix_diag_req for listening sockets, with the bound file. */
function request(): Buffer {
  const b = Buffer.alloc(NL.NLMSG_HEADER + 24);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(NL.SOCK_DIAG_BY_FAMILY, 4);
  b.writeUInt16LE(NL.NLM_F_REQUEST | NL.NLM_F_DUMP, 6);
  b.writeUInt8(NL.AF_UNIX, NL.NLMSG_HEADER);
  b.writeUInt32LE(1 << NL.TCP_LISTEN, NL.NLMSG_HEADER + 4);
  b.writeUInt32LE(NL.UDIAG_SHOW_VFS, NL.NLMSG_HEADER + 12);
  return b;
}

/** Adds the sockets of one received part to `into`; true once the dump is done, or the kernel's error. */
function parsePart(b: Buffer, into: Map<number, BoundFile>): boolean | string {
  for (let off = 0; off + NL.NLMSG_HEADER <= b.length; ) {
    const len = b.readUInt32LE(off);
    const type = b.readUInt16LE(off + 4);
    if (len < NL.NLMSG_HEADER || off + len > b.length) return 'a malformed answer';
    if (type === NL.NLMSG_DONE) return true;
    if (type === NL.NLMSG_ERROR) return strerror(-b.readInt32LE(off + NL.NLMSG_HEADER));
    if (type === NL.SOCK_DIAG_BY_FAMILY && len >= NL.NLMSG_HEADER + NL.UNIX_DIAG_MSG) {
      const socketIno = b.readUInt32LE(off + NL.NLMSG_HEADER + 4);
      for (let a = off + NL.NLMSG_HEADER + NL.UNIX_DIAG_MSG; a + 4 <= off + len; ) {
        const attrLen = b.readUInt16LE(a);
        if (attrLen < 4) break;
        if (b.readUInt16LE(a + 2) === NL.UNIX_DIAG_VFS && attrLen >= 12) into.set(socketIno, { ino: b.readUInt32LE(a + 4), dev: b.readUInt32LE(a + 8) });
        a += align4(attrLen);
      }
    }
    off += align4(len);
  }
  return false;
}

/**
 * Every listening unix socket of this network namespace that was bound at a
 * file: socket inode (as in /proc/PID/fd's `socket:[N]`) -> that file. Or
 * why the kernel cannot say (no native layer, no unix_diag in the kernel).
 */
export function listeningUnixFiles(): Result<Map<number, BoundFile>, string> {
  const sys = loadSys();
  if (sys instanceof Error) return fail(sys.message);
  const fd = sys.socket(NL.AF_NETLINK, NL.SOCK_RAW | O_CLOEXEC | O_NONBLOCK, NL.NETLINK_SOCK_DIAG);
  if (fd < 0) return fail(`cannot open a sock_diag socket: ${strerror(sys.errno())}`);
  try {
    const kernel = Buffer.alloc(12); // sockaddr_nl, all zero but its family: the kernel
    kernel.writeUInt16LE(NL.AF_NETLINK, 0);
    const req = request();
    if (sys.sendto(fd, req, req.length, 0, kernel, kernel.length) !== req.length) return fail(`cannot ask sock_diag: ${strerror(sys.errno())}`);
    const files = new Map<number, BoundFile>();
    const buf = Buffer.alloc(RECEIVE_ROOM);
    // The kernel writes each part before the call that reads the previous one returns: a dump never waits.
    for (let part = 0; part < MAX_PARTS; part++) {
      const n = sys.recvfrom(fd, buf, buf.length, 0, null, null);
      if (n <= 0) return fail(`sock_diag: ${n < 0 ? strerror(sys.errno()) : 'no answer'}`);
      const done = parsePart(buf.subarray(0, n), files);
      if (typeof done === 'string') return fail(`sock_diag: ${done}`);
      if (done) return ok(files);
    }
    return fail('sock_diag: the dump did not end');
  } finally {
    sys.close(fd);
  }
}
