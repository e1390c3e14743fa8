// The numbers of Linux's C interface that superd passes or reads, each
// defined once: those of glibc on x86_64 and aarch64, which agree on every one
// (load.ts refuses other hosts: mips, alpha, sparc and parisc differ). errno
// values are Node's own table.
import { constants } from 'node:os';

export const { EEXIST, EINTR, EINVAL, EMFILE, ENAMETOOLONG, ENODEV, ENOSYS, ENOTSOCK, EPERM } = constants.errno;

// Descriptors. O_CLOEXEC is also SOCK_CLOEXEC, EPOLL_CLOEXEC and EFD_CLOEXEC;
// O_NONBLOCK is also SOCK_NONBLOCK and EFD_NONBLOCK.
export const O_WRONLY = 0o1;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const CLOSE_RANGE_CLOEXEC = 4;
// fcntl(2).
export const F_DUPFD_CLOEXEC = 1030;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

// Sockets.
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_ATTACH_FILTER = 26;
export const SO_PEERCRED = 17;
export const SO_TYPE = 3;
export const SO_ACCEPTCONN = 30;
export const SO_DOMAIN = 39;
/** A control message of SOL_SOCKET carrying descriptors. */
export const SCM_RIGHTS = 1;
export const IPPROTO_TCP = 6;
export const TCP_INFO = 11;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const MSG_PEEK = 0x02;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** tcpi_state of a connection the peer reset (or that is otherwise gone); 1 is established, 8 close-wait. */
export const TCP_CLOSE = 7;
/** The peer has closed its side (FIN received); bytes it sent before may still wait unread. */
export const TCP_CLOSE_WAIT = 8;
/** sun_path is 108 bytes, one of them the terminating NUL. */
export const UNIX_PATH_MAX = 107;

// poll(2), and epoll's event bits, which are the same.
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
export const EPOLLIN = POLLIN;
export const EPOLLERR = POLLERR;
export const EPOLLHUP = POLLHUP;
export const EPOLLONESHOT = 1 << 30;
/** Edge-triggered: reported when something new arrives, not while something is there. */
export const EPOLLET = 1 << 31;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;

// Processes.
export const P_ALL = 0;
export const P_PID = 1;
export const WNOHANG = 1;
export const WEXITED = 4;
export const WNOWAIT = 0x01000000;
/** si_code of a child that exited (rather than was killed). */
export const CLD_EXITED = 1;
export const RLIMIT_NOFILE = 7;
export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;

// posix_spawnattr_setflags.
export const POSIX_SPAWN_SETPGROUP = 0x02;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSCHEDULER = 0x20;
export const POSIX_SPAWN_SETSID = 0x80;
