// Quiet stderr pipes of long-running handlers, kept out of superd's
// descriptor table.
//
// Every posix_spawn clones superd's descriptor table, and the child then
// closes what it inherited: each descriptor superd holds costs every spawn a
// little, in superd and in the child. A handler that runs for hours holds one
// (its stderr pipe's read end), so thousands of sessions made every new
// connection markedly dearer (bench/README.md). So a quiet pipe is parked:
// sent with SCM_RIGHTS into a socketpair that superd does not read until it
// needs the pipe back. The message in the socket's queue keeps the pipe open;
// superd's descriptor is closed.
//
// What a parked pipe does is still seen, because an epoll registration
// belongs to the open pipe, not to a descriptor: something written, or the
// last writer gone, makes the parking's epoll set readable, which superd's
// readiness thread reports (listen/readiness.ts: no signals), and one
// epoll_wait(0) names the pipe (EPOLLONESHOT: each reports once). A pipe with
// something to read is handed back under a new descriptor and read as any
// other from then on. A pipe whose writers are all gone, with nothing in it,
// is done: it is closed when its socketpair ("bucket", at most BUCKET pipes)
// is next emptied, which is when half of its pipes have hung up, or at the
// next sweep. Emptying a bucket takes each pipe out, looks at it, and puts
// the quiet ones back.
//
// Every quiet pipe is parked, however few there are: parking only past a
// threshold would add a second way for a grown-up pipe to go and spare
// nothing on the common path, where a handler is gone before its pipe grows
// up (pipe.ts).
//
// Anything that fails (no native layer, a full socketpair, ETOOMANYREFS)
// leaves the pipe where it was: the caller reads it as before.
import { readiness, type Readiness } from '../listen/readiness.js';
import { EPOLLERR, EPOLLHUP, EPOLLIN } from '../sys/constants.js';
import { SysError } from '../sys/errors.js';
import { hungUpEmpty } from '../sys/fd.js';
import type { Sys } from '../sys/load.js';

/** Pipes per socketpair: emptying one costs about three calls per pipe in it. */
const BUCKET = 64;
/** When buckets with done pipes are emptied at the latest. */
const SWEEP_MS = 1000;
/** Input waiting, or no writer left, or an error: what makes a parked pipe need attention. */
const NEEDS_ATTENTION = EPOLLIN | EPOLLHUP | EPOLLERR;

interface Bucket {
  readonly send: number;
  readonly receive: number;
  /** Tags of the pipes in it. */
  readonly tags: Set<number>;
  /** Hang-ups reported for pipes in it since it was last emptied. */
  hangups: number;
}

interface Parked {
  readonly bucket: Bucket;
  /** Something to read: the pipe is the caller's again, as `fd`. */
  readonly onInput: (fd: number) => void;
  /** No writer left and nothing to read: the pipe has been closed. */
  readonly onGone: () => void;
  /** close() asked for it: closed when taken out, whatever is in it. */
  closing: boolean;
}

export class PipeParking {
  private readonly parked = new Map<number, Parked>();
  private readonly buckets: Bucket[] = [];
  private epfd = -1;
  private nextTag = 0;
  private sweep: NodeJS.Timeout | null = null;

  constructor(
    private readonly lib: Sys,
    private readonly watcher: Readiness,
  ) {}

  /** How many pipes are parked. */
  get size(): number {
    return this.parked.size;
  }

  /**
   * Parks the pipe read end `fd` when it is quiet (nothing to read, a writer
   * still there). Returns its tag, and `fd` is then closed; or -1, and `fd` is
   * still the caller's.
   */
  park(fd: number, onInput: (fd: number) => void, onGone: () => void): number {
    const { lib } = this;
    if (this.epfd < 0) this.watchSet(lib.epollCreate());
    const bucket = this.epfd < 0 ? null : this.bucketWithRoom();
    if (bucket === null) return this.idle(-1);
    const tag = this.newTag();
    if (lib.epollAdd(this.epfd, fd, tag) !== 0) return this.idle(-1);
    // After epoll_ctl: what comes from now on is seen there.
    if (lib.pollIn(fd) !== 0 || lib.sendFd(bucket.send, fd, tag) !== 0) {
      lib.epollDel(this.epfd, fd);
      return this.idle(-1);
    }
    lib.close(fd);
    bucket.tags.add(tag);
    this.parked.set(tag, { bucket, onInput, onGone, closing: false });
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.check(true), SWEEP_MS);
      this.sweep.unref();
    }
    return tag;
  }

  /** Closes a parked pipe now (a process the handler left behind holds it); neither callback runs. */
  close(tag: number): void {
    const entry = this.parked.get(tag);
    if (entry === undefined) return;
    entry.closing = true;
    this.empty(entry.bucket);
  }

  /**
   * What the parked pipes reported: a bucket with input in it is emptied at
   * once; one with hang-ups when they are half of it, or at the sweep. A tag
   * only says when to look: what is done with a pipe is decided by looking at
   * the pipe itself once it is taken out. Never throws.
   */
  check(sweeping = false): void {
    if (this.parked.size === 0 || this.epfd < 0) return;
    const due = new Set<Bucket>();
    for (const { tag, events } of this.lib.epollReady(this.epfd)) {
      const bucket = this.parked.get(tag)?.bucket;
      if (bucket === undefined || (events & NEEDS_ATTENTION) === 0) continue;
      if ((events & EPOLLIN) !== 0) due.add(bucket);
      else if (++bucket.hangups * 2 >= bucket.tags.size) due.add(bucket);
    }
    if (sweeping) for (const bucket of this.buckets) if (bucket.hangups > 0) due.add(bucket);
    for (const bucket of due) if (this.buckets.includes(bucket)) this.empty(bucket);
  }

  /**
   * Takes every pipe out of the bucket and looks at it: one with no writer and
   * nothing in it is closed, one with input handed back, a quiet one parked
   * again. A pipe whose epoll registration fired (EPOLLONESHOT: spent) always
   * has input or a hang-up, so it is never parked again unseen.
   */
  private empty(bucket: Bucket): void {
    const { lib } = this;
    // All out first: those parked again go to the back of the same queue.
    const taken: { tag: number; fd: number }[] = [];
    for (let got = lib.receiveFd(bucket.receive); got !== null; got = lib.receiveFd(bucket.receive)) taken.push(got);
    bucket.hangups = 0;
    const back = new Set<number>();
    for (const { tag, fd } of taken) {
      back.add(tag);
      const entry = this.parked.get(tag);
      if (fd < 0) {
        // The message came without its pipe (superd out of descriptors): the pipe is closed.
        this.forget(tag, bucket);
        entry?.onGone();
        continue;
      }
      const revents = entry === undefined || entry.closing ? 0 : lib.pollIn(fd);
      if (entry === undefined || entry.closing) {
        this.forget(tag, bucket);
        lib.close(fd);
      } else if (hungUpEmpty(revents)) {
        this.forget(tag, bucket);
        lib.close(fd);
        entry.onGone();
      } else if (revents !== 0 || lib.sendFd(bucket.send, fd, tag) !== 0) {
        this.forget(tag, bucket);
        entry.onInput(fd);
      } else {
        lib.close(fd);
      }
    }
    // A pipe whose message did not come back is lost to superd (it cannot
    // happen): nothing may wait for it.
    for (const tag of [...bucket.tags]) {
      if (back.has(tag)) continue;
      const entry = this.parked.get(tag);
      this.forget(tag, bucket);
      entry?.onGone();
    }
    if (bucket.tags.size === 0) {
      this.buckets.splice(this.buckets.indexOf(bucket), 1);
      lib.close(bucket.send);
      lib.close(bucket.receive);
    }
    this.idle(0);
  }

  /**
   * Every pipe taken out and handed back, quiet or not (an upgrade in place
   * passes the pipes on, src/upgrade/): each to its onInput, or onGone when
   * its message came without it. The parking is then idle.
   */
  handBackAll(): void {
    const { lib } = this;
    for (const bucket of [...this.buckets]) {
      for (let got = lib.receiveFd(bucket.receive); got !== null; got = lib.receiveFd(bucket.receive)) {
        const entry = this.parked.get(got.tag);
        this.forget(got.tag, bucket);
        if (got.fd < 0) entry?.onGone();
        else if (entry === undefined || entry.closing) lib.close(got.fd);
        else entry.onInput(got.fd);
      }
      for (const tag of [...bucket.tags]) {
        const entry = this.parked.get(tag);
        this.forget(tag, bucket);
        entry?.onGone();
      }
    }
    this.idle(0);
  }

  /** The parking's epoll set, watched until it is closed: each report is one check(), then it is watched again. */
  private watchSet(epfd: number): void {
    this.epfd = epfd;
    if (epfd < 0) return;
    this.watcher.watch(epfd, () => {
      this.check();
      if (this.epfd === epfd) this.watchSet(epfd);
    });
  }

  private forget(tag: number, bucket: Bucket): void {
    bucket.tags.delete(tag);
    this.parked.delete(tag);
  }

  private bucketWithRoom(): Bucket | null {
    for (const bucket of this.buckets) if (bucket.tags.size < BUCKET) return bucket;
    const pair = this.lib.socketpair();
    if (pair === null) return null;
    const bucket: Bucket = { send: pair[0], receive: pair[1], tags: new Set(), hangups: 0 };
    this.buckets.push(bucket);
    return bucket;
  }

  /** 32 bits travel in the message and in epoll's data; they come round again only after 4 billion pipes. */
  private newTag(): number {
    do this.nextTag = this.nextTag >= 0xffffffff ? 1 : this.nextTag + 1;
    while (this.parked.has(this.nextTag));
    return this.nextTag;
  }

  /** Nothing parked: the buckets, the epoll set and the sweep go, and superd's descriptors are back where they were. */
  private idle(result: number): number {
    if (this.parked.size > 0) return result;
    for (const bucket of this.buckets) {
      this.lib.close(bucket.send);
      this.lib.close(bucket.receive);
    }
    this.buckets.length = 0;
    if (this.epfd >= 0) {
      this.watcher.unwatch(this.epfd);
      this.lib.close(this.epfd);
    }
    this.epfd = -1;
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
    return result;
  }
}

/** A parking watched by superd's readiness thread, or null where that thread cannot be had. */
export function newParking(lib: Sys): PipeParking | null {
  const watcher = readiness();
  return watcher instanceof SysError ? null : new PipeParking(lib, watcher);
}
