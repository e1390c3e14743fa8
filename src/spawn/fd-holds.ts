// Descriptor numbers that spawns not yet returned will dup2 into a handler.
//
// posix_spawn's file actions name descriptors by number (file-actions.ts),
// and the spawn runs later, on a libuv pool thread that may be busy with
// other spawns or --log-file writes. Closing such a descriptor meanwhile
// frees its number for the next accept or pipe, and the handler would then
// be given somebody else's connection. So whoever closes a descriptor a spawn
// may name (a wait service's socket, on reload or removal) closes it through
// closeWhenFree, and the spawner holds each request's descriptor from the
// moment it takes the request until the spawn has returned. The numbers are
// the process's, so this is one registry for the process.
//
// A nowait connection needs none of this: the runtime closes superd's copy
// only once its spawn has returned (service/handlers.ts, `spawn`).

/** fd → how many spawns not yet returned name it. */
const held = new Map<number, number>();
/** fd → the closes put off until the last of them returns. */
const putOff = new Map<number, (() => void)[]>();

/** A spawn that names fd has been taken. */
export function hold(fd: number): void {
  held.set(fd, (held.get(fd) ?? 0) + 1);
}

/** That spawn has returned; the closes put off run once no other names fd. */
export function release(fd: number): void {
  const count = held.get(fd) ?? 0;
  if (count > 1) {
    held.set(fd, count - 1);
    return;
  }
  held.delete(fd);
  const closes = putOff.get(fd);
  putOff.delete(fd);
  for (const close of closes ?? []) close();
}

/** Runs `close` now, or once every spawn naming fd has returned; resolves when it has run. */
export function closeWhenFree(fd: number, close: () => void): Promise<void> {
  if (!held.has(fd)) {
    close();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const closes = putOff.get(fd) ?? [];
    closes.push(() => {
      try {
        close();
      } finally {
        resolve();
      }
    });
    putOff.set(fd, closes);
  });
}

/** How many spawns name fd (for tests). */
export function holdsOn(fd: number): number {
  return held.get(fd) ?? 0;
}
