// The libc calls that park descriptors (stderr-park.ts), through koffi:
// socketpair, sendmsg/recvmsg with SCM_RIGHTS, epoll. Layouts are those
// of LP64 Linux (x86_64, aarch64); struct epoll_event is packed on x86_64 only.
// poll and close are listen/native.ts's. Every call is synchronous, on
// the main thread, and returns what libc returns: nothing here throws once
// loaded.
import { openLibc, type KoffiFunc } from '../koffi.js';
import { POLLERR, POLLHUP, POLLIN, isNativeError, loadNative } from '../listen/native.js';

export interface ParkLibc {
  /** A close-on-exec, non-blocking SOCK_DGRAM socketpair: [send end, receive end], or null. */
  socketpair(): [number, number] | null;
  /** Sends `fd` with a 4-byte tag: 0, or -1 (EAGAIN when the pair is full, ETOOMANYREFS…). */
  sendFd(socket: number, fd: number, tag: number): number;
  /**
   * The next message's tag and the descriptor it carried (close-on-exec; -1
   * when the kernel could not give it, e.g. superd is out of descriptors), or
   * null when there is no message.
   */
  receiveFd(socket: number): { tag: number; fd: number } | null;
  epollCreate(): number;
  /** Watches fd for input or hangup, once (EPOLLONESHOT), with `tag` as its data. */
  epollAdd(epfd: number, fd: number, tag: number): number;
  epollDel(epfd: number, fd: number): number;
  /** What is ready now (no waiting): each tag and its event bits. */
  epollReady(epfd: number): { tag: number; events: number }[];
  /** poll(2) for input with no timeout: the revents bits, or -1. */
  pollIn(fd: number): number;
  close(fd: number): number;
}

// epoll's bits are poll(2)'s.
export const EPOLLIN = POLLIN;
const EPOLLERR = POLLERR;
const EPOLLHUP = POLLHUP;
const EPOLLONESHOT = 1 << 30;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const CLOEXEC = 0o2000000;
const NONBLOCK = 0o4000;
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const EVENT_DATA = process.arch === 'x64' ? 4 : 8;
const MAX_EVENTS = 64;

// One scratch area for sendmsg/recvmsg: struct msghdr at 0, its iovec at 64,
// the control message (one int) at 96, the 4-byte tag at 128. Larger than 64
// bytes, so its memory is never on V8's heap and never moves: the pointers
// written into it stay true.
const MSG = 0;
const IOV = 64;
const CONTROL = 96;
const CONTROL_SPACE = 24; // CMSG_SPACE(sizeof(int))
const CONTROL_LEN = 20; // CMSG_LEN(sizeof(int))
const TAG = 128;

let cached: ParkLibc | Error | undefined;

export function loadParkLibc(): ParkLibc | Error {
  if (cached !== undefined) return cached;
  try {
    const native = loadNative();
    if (isNativeError(native)) throw new Error(native.message);
    const libc = openLibc();
    const fn = (sig: string): KoffiFunc => libc.func(sig);
    const socketpair = fn('int socketpair(int domain, int type, int protocol, _Out_ int *fds)');
    const sendmsg = fn('long sendmsg(int fd, void *msg, int flags)');
    const recvmsg = fn('long recvmsg(int fd, void *msg, int flags)');
    const create = fn('int epoll_create1(int flags)');
    const ctl = fn('int epoll_ctl(int epfd, int op, int fd, void *event)');
    const wait = fn('int epoll_wait(int epfd, void *events, int max, int timeout)');
    // memset(p, 0, 0) returns p: how the scratch area learns its own address.
    const addressOf = fn('uintptr_t memset(void *p, int c, size_t n)');

    const scratch = Buffer.alloc(256);
    const base = BigInt(addressOf(scratch, 0, 0) as number | bigint);
    scratch.writeBigUInt64LE(base + BigInt(IOV), MSG + 16); // msg_iov
    scratch.writeBigUInt64LE(1n, MSG + 24); // msg_iovlen
    scratch.writeBigUInt64LE(base + BigInt(CONTROL), MSG + 32); // msg_control
    scratch.writeBigUInt64LE(base + BigInt(TAG), IOV); // iov_base
    scratch.writeBigUInt64LE(4n, IOV + 8); // iov_len
    const event = Buffer.alloc(128);
    const events = Buffer.alloc(MAX_EVENTS * EVENT_SIZE);
    const pollFd = Buffer.alloc(128);
    const pair = new Int32Array(2);

    cached = {
      socketpair: () => {
        if ((socketpair(AF_UNIX, SOCK_DGRAM | CLOEXEC | NONBLOCK, 0, pair) as number) !== 0) return null;
        return [pair[0] ?? -1, pair[1] ?? -1];
      },
      sendFd: (socket, fd, tag) => {
        scratch.writeBigUInt64LE(BigInt(CONTROL_SPACE), MSG + 40);
        scratch.writeInt32LE(0, MSG + 48);
        scratch.writeBigUInt64LE(BigInt(CONTROL_LEN), CONTROL);
        scratch.writeInt32LE(SOL_SOCKET, CONTROL + 8);
        scratch.writeInt32LE(SCM_RIGHTS, CONTROL + 12);
        scratch.writeInt32LE(fd, CONTROL + 16);
        scratch.writeUInt32LE(tag, TAG);
        return Number(sendmsg(socket, scratch, MSG_DONTWAIT | MSG_NOSIGNAL)) === 4 ? 0 : -1;
      },
      receiveFd: (socket) => {
        scratch.writeBigUInt64LE(BigInt(CONTROL_SPACE), MSG + 40);
        scratch.writeInt32LE(0, MSG + 48);
        scratch.fill(0, CONTROL, CONTROL + CONTROL_SPACE);
        const got = Number(recvmsg(socket, scratch, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
        if (got <= 0) return null;
        const tag = got === 4 ? scratch.readUInt32LE(TAG) : 0;
        const level = scratch.readInt32LE(CONTROL + 8);
        const type = scratch.readInt32LE(CONTROL + 12);
        if (Number(scratch.readBigUInt64LE(MSG + 40)) < CONTROL_LEN || level !== SOL_SOCKET || type !== SCM_RIGHTS) return { tag, fd: -1 };
        return { tag, fd: scratch.readInt32LE(CONTROL + 16) };
      },
      epollCreate: () => create(CLOEXEC) as number,
      epollAdd: (epfd, fd, tag) => {
        event.fill(0);
        event.writeUInt32LE(EPOLLIN | EPOLLONESHOT, 0);
        event.writeUInt32LE(tag, EVENT_DATA);
        return ctl(epfd, EPOLL_CTL_ADD, fd, event) as number;
      },
      epollDel: (epfd, fd) => ctl(epfd, EPOLL_CTL_DEL, fd, event) as number,
      epollReady: (epfd) => {
        const ready: { tag: number; events: number }[] = [];
        for (;;) {
          const n = wait(epfd, events, MAX_EVENTS, 0) as number;
          for (let i = 0; i < n; i++) {
            ready.push({ tag: events.readUInt32LE(i * EVENT_SIZE + EVENT_DATA), events: events.readUInt32LE(i * EVENT_SIZE) | 0 });
          }
          if (n < MAX_EVENTS) return ready;
        }
      },
      pollIn: (fd) => {
        pollFd.writeInt32LE(fd, 0);
        pollFd.writeInt16LE(POLLIN, 4);
        pollFd.writeInt16LE(0, 6);
        return native.poll(pollFd, 1, 0) < 0 ? -1 : pollFd.readUInt16LE(6);
      },
      close: (fd) => native.close(fd),
    };
  } catch (err) {
    cached = err instanceof Error ? err : new Error(String(err));
  }
  return cached;
}

/** poll(2)'s answer for a pipe's read end whose writers are all gone and which holds nothing: it can be closed. */
export function hungUpEmpty(revents: number): boolean {
  return revents >= 0 && (revents & (POLLIN | POLLERR)) === 0 && (revents & POLLHUP) !== 0;
}

/** Input waiting, or no writer left, or an error: what makes a parked pipe need attention. */
export const NEEDS_ATTENTION = EPOLLIN | EPOLLHUP | EPOLLERR;
