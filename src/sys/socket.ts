// Socket calls: the raw ones sockets.ts builds on, and what superd asks of a
// connected socket (who is at the other end, the state of a tcp connection).
import { IPPROTO_TCP, SO_ATTACH_FILTER, SO_PEERCRED, SOL_SOCKET, TCP_INFO } from './constants.js';
import { koffi, libcFunction } from './koffi.js';
import { structs } from './structs.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Each returns what libc returns (-1 on error, see errno()). */
export interface SocketCalls {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  bind(fd: number, addr: Buffer, length: number): number;
  listen(fd: number, backlog: number): number;
  /** SO_ATTACH_FILTER: a classic BPF program (`count` struct sock_filter of 8 bytes each) on the socket: 0, or -1. */
  attachFilter(fd: number, program: Buffer, count: number): number;
  /** socketpair(2) of stream sockets: 0 with both descriptors in `fds`, or -1. */
  streamSocketPair(domain: number, type: number, protocol: number, fds: Int32Array): number;
  /** accept4(2) taking no address: the new descriptor, or -1. */
  accept(fd: number, flags: number): number;
  /** `length` holds the room in addr (a socklen_t), and then the length of the address. */
  getsockname(fd: number, addr: Buffer, length: Buffer): number;
  recvfrom(fd: number, buf: Buffer, size: number, flags: number, addr: Buffer | null, length: Buffer | null): number;
  sendto(fd: number, buf: Buffer, size: number, flags: number, addr: Buffer, length: number): number;
  inetPton(af: number, text: string, dst: Buffer): number;
  inetNtop(af: number, src: Buffer, dst: Buffer, size: number): string | null;
  ifNameToIndex(name: string): number;
  /** getsockopt(2) of an int option (SO_TYPE, IPV6_V6ONLY…): its value, or null (see errno()). */
  intOption(fd: number, level: number, name: number): number | null;
  /** SO_PEERCRED of a connected unix socket: who is at the other end. Null on error. */
  peerCredentials(fd: number): PeerCredentials | null;
  /** A tcp connection's tcpi_state (TCP_INFO; TCP_CLOSE once the peer reset it), or null. */
  tcpState(fd: number): number | null;
}

export function bindSocket(): SocketCalls {
  const k = koffi();
  const { ucred, tcpInfoHead } = structs();
  const socket = libcFunction('int socket(int domain, int type, int protocol)');
  const setsockopt = libcFunction('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)');
  const bind = libcFunction('int bind(int fd, const void *addr, uint32_t length)');
  const listen = libcFunction('int listen(int fd, int backlog)');
  const socketpair = libcFunction('int socketpair(int domain, int type, int protocol, _Out_ int *fds)');
  const accept4 = libcFunction('int accept4(int fd, void *addr, void *length, int flags)');
  // koffi builds the struct sock_fprog for the call from an object, the program's Buffer as its pointer.
  const fprog = k.struct('sock_fprog', { len: 'uint16_t', filter: 'void *' });
  const setFilter = libcFunction('int setsockopt(int fd, int level, int name, const sock_fprog *value, uint32_t length)');
  // Pointers as void *: koffi passes a Buffer's own memory, which libc fills.
  const getsockname = libcFunction('int getsockname(int fd, void *addr, void *length)');
  const recvfrom = libcFunction('long recvfrom(int fd, void *buf, unsigned long size, int flags, void *addr, void *length)');
  const sendto = libcFunction('long sendto(int fd, const void *buf, unsigned long size, int flags, const void *addr, uint32_t length)');
  const getsockopt = libcFunction('int getsockopt(int fd, int level, int name, void *value, void *length)');
  const pton = libcFunction('int inet_pton(int af, const char *src, void *dst)');
  const ntop = libcFunction('const char *inet_ntop(int af, const void *src, void *dst, uint32_t size)');
  const nameToIndex = libcFunction('unsigned int if_nametoindex(const char *name)');
  /** getsockopt into a buffer of `type`'s size: the buffer, or null. */
  const option = (fd: number, level: number, name: number, room: number): Buffer | null => {
    const value = Buffer.alloc(room);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(room, 0);
    return (getsockopt(fd, level, name, value, length) as number) === 0 ? value : null;
  };
  // Room for the whole of struct tcp_info, which grows with the kernel; only its first byte is read.
  const TCP_INFO_ROOM = 256;
  return {
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    setsockopt: (fd, level, name, value, length) => setsockopt(fd, level, name, value, length) as number,
    bind: (fd, addr, length) => bind(fd, addr, length) as number,
    listen: (fd, backlog) => listen(fd, backlog) as number,
    streamSocketPair: (domain, type, protocol, fds) => socketpair(domain, type, protocol, fds) as number,
    accept: (fd, flags) => accept4(fd, null, null, flags) as number,
    attachFilter: (fd, program, count) => setFilter(fd, SOL_SOCKET, SO_ATTACH_FILTER, { len: count, filter: program }, k.sizeof(fprog)) as number,
    getsockname: (fd, addr, length) => getsockname(fd, addr, length) as number,
    recvfrom: (fd, buf, size, flags, addr, length) => Number(recvfrom(fd, buf, size, flags, addr, length)),
    sendto: (fd, buf, size, flags, addr, length) => Number(sendto(fd, buf, size, flags, addr, length)),
    inetPton: (af, text, dst) => pton(af, text, dst) as number,
    inetNtop: (af, src, dst, size) => ntop(af, src, dst, size) as string | null,
    ifNameToIndex: (name) => nameToIndex(name) as number,
    intOption: (fd, level, name) => option(fd, level, name, 4)?.readInt32LE(0) ?? null,
    peerCredentials: (fd) => {
      const cred = option(fd, SOL_SOCKET, SO_PEERCRED, k.sizeof(ucred));
      return cred === null ? null : (k.decode(cred, 0, ucred) as PeerCredentials);
    },
    tcpState: (fd) => {
      const info = option(fd, IPPROTO_TCP, TCP_INFO, TCP_INFO_ROOM);
      return info === null ? null : (k.decode(info, 0, tcpInfoHead) as { tcpi_state: number }).tcpi_state;
    },
  };
}
