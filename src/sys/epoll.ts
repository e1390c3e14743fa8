// epoll: a set of descriptors, each registered with a 32-bit tag of the
// caller's as its data, and what became ready.
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, EPOLLONESHOT, O_CLOEXEC } from './constants.js';
import { koffi, libcFunction } from './koffi.js';
import { structs } from './structs.js';

export interface EpollReady {
  readonly tag: number;
  /** Event bits: EPOLLIN, EPOLLHUP, EPOLLERR… */
  readonly events: number;
}

export interface EpollCalls {
  /** A close-on-exec epoll set, or -1. */
  epollCreate(): number;
  /** epoll_ctl(2) with one struct epoll_event: `events` and `tag` (its data). 0 or -1. */
  epollCtl(epfd: number, op: number, fd: number, events: number, tag: number): number;
  /** Watches fd for input or hangup, once (EPOLLONESHOT), with `tag` as its data. */
  epollAdd(epfd: number, fd: number, tag: number): number;
  epollDel(epfd: number, fd: number): number;
  /** epoll_wait(2) for up to timeoutMs (-1: until something is ready): what is ready, or null on error (see errno). */
  epollWait(epfd: number, timeoutMs: number): EpollReady[] | null;
  /** Everything ready now, without waiting. */
  epollReady(epfd: number): EpollReady[];
}

/** Events taken per epoll_wait. */
const MAX_EVENTS = 64;

export function bindEpoll(): EpollCalls {
  const k = koffi();
  const { epollEvent } = structs();
  const create = libcFunction('int epoll_create1(int flags)');
  const ctl = libcFunction('int epoll_ctl(int epfd, int op, int fd, void *event)');
  const wait = libcFunction('int epoll_wait(int epfd, void *events, int max, int timeout)');
  const SIZE = k.sizeof(epollEvent);
  const EVENTS = k.offsetof(epollEvent, 'events');
  // The tag is epoll_data_t's u32: the low half of its 64 bits, first in little-endian memory.
  const DATA = k.offsetof(epollEvent, 'data');
  // Reused: each thread that loads this layer has its own.
  const event = Buffer.alloc(SIZE);
  const events = Buffer.alloc(MAX_EVENTS * SIZE);
  const epollCtl = (epfd: number, op: number, fd: number, bits: number, tag: number): number => {
    event.fill(0);
    event.writeUInt32LE(bits >>> 0, EVENTS);
    event.writeUInt32LE(tag, DATA);
    return ctl(epfd, op, fd, event) as number;
  };
  const epollWait = (epfd: number, timeoutMs: number): EpollReady[] | null => {
    const n = wait(epfd, events, MAX_EVENTS, timeoutMs) as number;
    if (n < 0) return null;
    const ready: EpollReady[] = [];
    for (let i = 0; i < n; i++) ready.push({ tag: events.readUInt32LE(i * SIZE + DATA), events: events.readUInt32LE(i * SIZE + EVENTS) | 0 });
    return ready;
  };
  return {
    epollCreate: () => create(O_CLOEXEC) as number,
    epollCtl,
    epollAdd: (epfd, fd, tag) => epollCtl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLONESHOT, tag),
    epollDel: (epfd, fd) => epollCtl(epfd, EPOLL_CTL_DEL, fd, 0, 0),
    epollWait,
    epollReady: (epfd) => {
      const ready: EpollReady[] = [];
      for (;;) {
        const some = epollWait(epfd, 0) ?? [];
        ready.push(...some);
        if (some.length < MAX_EVENTS) return ready;
      }
    },
  };
}
