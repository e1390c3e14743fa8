// The C structs superd reads or writes, declared once with koffi, which lays
// them out as the platform's C compiler does: sizes and offsets come from
// here, never from numbers written by hand. Named ones can be used in the
// signatures of load.ts's bindings.
import { koffi, type KoffiType } from './koffi.js';

export interface Structs {
  readonly pollfd: KoffiType;
  /** siginfo_t, 128 bytes: what SIGCHLD fills of its union is `sigchld`. */
  readonly siginfo: KoffiType;
  readonly sigchld: KoffiType;
  readonly rlimit: KoffiType;
  readonly ucred: KoffiType;
  /** The first member of struct tcp_info, all superd reads of it. */
  readonly tcpInfoHead: KoffiType;
  /** Any sockaddr: its family is where it is for every kind. */
  readonly sockaddr: KoffiType;
  readonly sockaddrIn: KoffiType;
  readonly sockaddrIn6: KoffiType;
  readonly sockaddrUn: KoffiType;
  readonly sockaddrStorage: KoffiType;
  readonly msghdr: KoffiType;
  /** A cmsghdr with one int of data: sizeof is CMSG_SPACE(sizeof(int)), offsetof(fd) is where CMSG_DATA points. */
  readonly cmsghdrFd: KoffiType;
  /** Packed on x86_64 (12 bytes), not on aarch64 (16): the kernel's own definition. */
  readonly epollEvent: KoffiType;
}

let declared: Structs | undefined;

/** Declares them on first use (once per thread: koffi's names are per thread). Throws where koffi cannot load. */
export function structs(): Structs {
  if (declared !== undefined) return declared;
  const k = koffi();
  const sigchld = k.struct({ si_pid: 'int', si_uid: 'uint32_t', si_status: 'int', si_utime: 'long', si_stime: 'long' });
  const iovec = k.struct('iovec', { iov_base: 'void *', iov_len: 'size_t' });
  const epollMembers = { events: 'uint32_t', data: 'uint64_t' };
  declared = {
    pollfd: k.struct('pollfd', { fd: 'int', events: 'short', revents: 'short' }),
    // glibc pads the union to 128 bytes: 28 ints after the three ints and the alignment of its longs.
    siginfo: k.struct('siginfo_t', { si_signo: 'int', si_errno: 'int', si_code: 'int', sifields: k.union({ pad: k.array('int', 28), sigchld }) }),
    sigchld,
    rlimit: k.struct('rlimit', { rlim_cur: 'uint64_t', rlim_max: 'uint64_t' }),
    ucred: k.struct('ucred', { pid: 'int', uid: 'uint32_t', gid: 'uint32_t' }),
    tcpInfoHead: k.struct('tcp_info_head', { tcpi_state: 'uint8_t' }),
    sockaddr: k.struct('sockaddr', { sa_family: 'uint16_t' }),
    sockaddrIn: k.struct('sockaddr_in', { sin_family: 'uint16_t', sin_port: 'uint16_be_t', sin_addr: k.array('uint8_t', 4), sin_zero: k.array('uint8_t', 8) }),
    sockaddrIn6: k.struct('sockaddr_in6', {
      sin6_family: 'uint16_t',
      sin6_port: 'uint16_be_t',
      sin6_flowinfo: 'uint32_be_t',
      sin6_addr: k.array('uint8_t', 16),
      sin6_scope_id: 'uint32_t',
    }),
    sockaddrUn: k.struct('sockaddr_un', { sun_family: 'uint16_t', sun_path: k.array('char', 108) }),
    sockaddrStorage: k.struct('sockaddr_storage', { ss_family: 'uint16_t', ss_data: k.array('uint8_t', 118), ss_align: 'uint64_t' }),
    msghdr: k.struct('msghdr', {
      msg_name: 'void *',
      msg_namelen: 'uint32_t',
      msg_iov: k.pointer(iovec),
      msg_iovlen: 'size_t',
      msg_control: 'void *',
      msg_controllen: 'size_t',
      msg_flags: 'int',
    }),
    cmsghdrFd: k.struct('cmsghdr_fd', { cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int', fd: 'int' }),
    epollEvent: process.arch === 'x64' ? k.pack('epoll_event', epollMembers) : k.struct('epoll_event', epollMembers),
  };
  return declared;
}
