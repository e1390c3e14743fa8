// --watch: a reload when a *.conf file in the services dir changes. A watcher
// can fail (inotify out of watches or instances, a path it may not read, a
// symlink loop): that is logged, and never ends the daemon. Where the failure
// means changes may go unnoticed from now on, the watcher is closed and says
// so: SIGHUP still reloads.
import type { Logger } from './log/types.js';
import { errorMessage } from './errors.js';

/** An editor's save (write temp, rename, chmod) is one reload. */
const WATCH_DEBOUNCE_MS = 300;
/** How long the first scan may take before superd goes on without the watcher. */
const READY_TIMEOUT_MS = 10_000;
/** Errors after which the watcher may miss changes: out of inotify watches or instances, or of memory. */
const BROKEN = new Set(['EMFILE', 'ENFILE', 'ENOSPC', 'ENOMEM']);

/** What superd uses of a chokidar watcher (a stand-in in the tests). */
export interface FileWatcher {
  on(event: 'all', fn: (event: string, path: string) => void): unknown;
  on(event: 'error', fn: (err: unknown) => void): unknown;
  once(event: 'ready', fn: () => void): unknown;
  close(): Promise<void>;
}

export interface Watch {
  /** False once the watcher has been given up. */
  readonly active: boolean;
  close(): Promise<void>;
}

async function chokidarWatcher(dir: string): Promise<FileWatcher> {
  // Loaded only when asked for: an idle daemon should not carry a file watcher.
  const { watch } = await import('chokidar');
  return watch(dir, { ignoreInitial: true, depth: 0 }) as unknown as FileWatcher;
}

export async function startWatch(
  dir: string,
  reload: () => void,
  logger: Pick<Logger, 'log'>,
  open: (dir: string) => Promise<FileWatcher> = chokidarWatcher,
): Promise<Watch> {
  const watcher = await open(dir);
  let timer: NodeJS.Timeout | null = null;
  let active = true;
  let closing: Promise<void> | null = null;
  const closeOnce = (): Promise<void> => (closing ??= watcher.close().catch(() => undefined));
  /** Each kind of error is logged once: a watcher can repeat one for every event. */
  const seen = new Set<string>();
  let whenGivenUp: () => void = () => undefined;

  const giveUp = (error: string): void => {
    if (!active) return;
    active = false;
    if (timer !== null) clearTimeout(timer);
    logger.log('error', 'watch_failed', {
      path: dir,
      error,
      message: '--watch is off: changes in the services dir are no longer noticed; reload with SIGHUP (superd reload)',
    });
    whenGivenUp();
    void closeOnce();
  };

  watcher.on('error', (err) => {
    const e = err as NodeJS.ErrnoException;
    const code = typeof e?.code === 'string' ? e.code : 'unknown';
    const error = errorMessage(err);
    if (BROKEN.has(code)) return giveUp(error);
    if (!active || seen.has(code)) return;
    seen.add(code);
    logger.log('warn', 'watch_error', {
      path: typeof e?.path === 'string' ? e.path : dir,
      error,
      message: 'still watching the services dir; this kind of error is not logged again',
    });
  });
  watcher.on('all', (_event, path) => {
    if (!active || !path.endsWith('.conf')) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      reload();
    }, WATCH_DEBOUNCE_MS);
  });

  // The first scan, bounded: the daemon does not wait forever for a watcher.
  await new Promise<void>((resolve) => {
    const limit = setTimeout(() => giveUp(`the first scan did not finish within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    whenGivenUp = () => {
      clearTimeout(limit);
      resolve();
    };
    watcher.once('ready', () => {
      clearTimeout(limit);
      resolve();
    });
  });
  whenGivenUp = () => undefined;

  return {
    get active() {
      return active;
    },
    close: () => {
      active = false;
      if (timer !== null) clearTimeout(timer);
      return closeOnce();
    },
  };
}
