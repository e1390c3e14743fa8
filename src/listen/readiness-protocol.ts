// What readiness.ts and its thread (readiness-thread.ts) share.

/** The tag of the eventfd that ends the thread; watched descriptors get tags from 1 up. */
export const STOP_TAG = 0;

/** What the thread is started with. */
export interface ThreadData {
  /** The epoll set, the event loop's: the thread only waits on it. */
  readonly epfd: number;
  /**
   * One Int32 the thread sets to STOPPED (and notifies) once it is back from
   * its last native call: the event loop waits for that at exit, because a
   * thread torn down inside a koffi call aborts the process (Node 24).
   */
  readonly stopped: SharedArrayBuffer;
}

/** The value of ThreadData.stopped once the thread has left epoll_wait for good. */
export const STOPPED = 1;

/** What the thread posts: the tags that became ready, or the errno that stopped it. */
export type ThreadReport = { readonly tags: readonly number[] } | { readonly error: number };
