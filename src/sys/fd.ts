// Descriptors: pipes, close, a read on a pool thread, poll, eventfd.
import { CLOSE_RANGE_CLOEXEC, O_CLOEXEC, O_NONBLOCK, POLLERR, POLLHUP, POLLIN } from './constants.js';
import { koffi, libcFunction } from './koffi.js';
import { structs } from './structs.js';
import { writeUint64 } from './uint64.js';

export type AsyncDone = (err: unknown, result: number) => void;

export interface FdCalls {
  /** pipe2(2): fills fds, returns 0 or -1. */
  pipe2(fds: Int32Array, flags: number): number;
  /** Linux releases the fd even when close reports EINTR or EIO: never retry. */
  close(fd: number): number;
  /** read(2) on a libuv pool thread; `done(err, n)` on the event loop. `buf` must stay untouched until then. */
  readAsync(fd: number, buf: Buffer, length: number, done: AsyncDone): void;
  /** close_range(2) with CLOSE_RANGE_CLOEXEC: marks fds first..last close-on-exec. */
  cloexecRange(first: number, last: number): number;
  /** poll(2) of fd for input, not waiting: the revents bits (0: nothing), or -1. */
  pollIn(fd: number): number;
  /** A close-on-exec, non-blocking eventfd at 0, or -1. */
  eventfd(): number;
  /** Adds `value` to an eventfd's counter (making it readable): 0, or -1. */
  eventfdAdd(fd: number, value: number): number;
}

export function bindFd(): FdCalls {
  const k = koffi();
  const { pollfd } = structs();
  // `int *fds` as _Out_: koffi copies the two ints back into the typed array.
  const pipe = libcFunction('int pipe2(_Out_ int *fds, int flags)');
  const close = libcFunction('int close(int fd)');
  const read = libcFunction('intptr_t read(int fd, void *buf, size_t count)');
  const closeRange = libcFunction('int close_range(uint32_t first, uint32_t last, int flags)');
  const poll = libcFunction('int poll(void *fds, unsigned long count, int timeout)');
  const eventfd = libcFunction('int eventfd(unsigned int initval, int flags)');
  const write = libcFunction('intptr_t write(int fd, const void *buf, size_t count)');
  // Reused: every call here is synchronous, on the thread that loaded it.
  const pollFd = Buffer.alloc(k.sizeof(pollfd));
  const FD = k.offsetof(pollfd, 'fd');
  const EVENTS = k.offsetof(pollfd, 'events');
  const REVENTS = k.offsetof(pollfd, 'revents');
  const counter = Buffer.alloc(8);
  return {
    pipe2: (fds, flags) => pipe(fds, flags) as number,
    close: (fd) => close(fd) as number,
    readAsync: (fd, buf, length, done) => read.async(fd, buf, length, done),
    cloexecRange: (first, last) => closeRange(first, last, CLOSE_RANGE_CLOEXEC) as number,
    pollIn: (fd) => {
      pollFd.writeInt32LE(fd, FD);
      pollFd.writeInt16LE(POLLIN, EVENTS);
      pollFd.writeInt16LE(0, REVENTS);
      return (poll(pollFd, 1, 0) as number) < 0 ? -1 : pollFd.readUInt16LE(REVENTS);
    },
    eventfd: () => eventfd(0, O_CLOEXEC | O_NONBLOCK) as number,
    eventfdAdd: (fd, value) => {
      writeUint64(counter, 0, value);
      return Number(write(fd, counter, 8)) === 8 ? 0 : -1;
    },
  };
}

/** pollIn's answer for a pipe's read end whose writers are all gone and which holds nothing: it can be closed. */
export function hungUpEmpty(revents: number): boolean {
  return revents >= 0 && (revents & (POLLIN | POLLERR)) === 0 && (revents & POLLHUP) !== 0;
}
