// `superd [run]`: the daemon in the foreground, wired to its signals.
import { closeSync, fstatSync, openSync } from 'node:fs';
import type { Server } from 'node:net';
import type { CommonOptions } from '../cli.js';
import { closeControl, serveControl } from '../control/server.js';
import { Daemon } from '../daemon.js';
import { takeEarlySignals } from '../early-signals.js';
import { formatConfigError } from '../errors.js';
import { createLogger, type LogFields } from '../log.js';
import { loadLibc } from '../spawn/libc.js';
import { systemdNotifier } from '../notify.js';
import { FdPressure } from '../service/fdpressure.js';
import { HandlerSpawner } from '../spawn/spawner.js';

/** An editor's save (write temp, rename, chmod) is one reload. */
const WATCH_DEBOUNCE_MS = 300;

/**
 * A service manager may start us with fd 0, 1 or 2 closed; the next socket
 * would then take that number and be dup2'ed onto itself in a handler. Fill
 * the gaps with /dev/null first.
 */
function ensureStandardFds(): void {
  for (let fd = 0; fd <= 2; fd++) {
    try {
      fstatSync(fd);
    } catch {
      const opened = openSync('/dev/null', fd === 0 ? 'r' : 'w');
      if (opened > 2) closeSync(opened);
    }
  }
}

/**
 * Descriptors superd inherited without close-on-exec (a shell's or test
 * runner's stray pipes) must not reach handlers. posix_spawn closes them in
 * the child itself; child_process does not, so mark them all once here.
 */
function closeInheritedOnExec(): void {
  const libc = loadLibc();
  if (!(libc instanceof Error)) libc.cloexecRange(3, 0xffffffff);
}

/**
 * As root, drop supplementary groups once for good: handlers started by
 * posix_spawn inherit them, and SPEC §3 promises none (root needs none to read
 * its own files).
 */
function dropSupplementaryGroups(): void {
  if (process.getuid?.() === 0) process.setgroups?.([]);
}

export async function runDaemon(o: CommonOptions & { spawner?: string }): Promise<number> {
  ensureStandardFds();
  closeInheritedOnExec();
  dropSupplementaryGroups();
  const logger = createLogger({ level: o.logLevel, format: o.logFormat, file: o.logFile ?? null });
  const self = { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  const spawner = await HandlerSpawner.create({ usePosixSpawn: o.spawner !== 'node', self });
  if (spawner.fallbackReason !== null && o.spawner !== 'node') {
    logger.log('warn', 'spawner', { message: `using child_process (forks superd per handler) where the fast path cannot serve: ${spawner.fallbackReason}` });
  }
  const daemon = new Daemon({
    servicesDir: o.servicesDir,
    pidFile: o.pidFile ?? null,
    shutdownGraceSeconds: o.shutdownGrace,
    context: { spawner, logger, environment: process.env, fdPressure: new FdPressure(logger) },
    lifecycle: systemdNotifier(process.env.NOTIFY_SOCKET, logger),
  });

  // Signals only ask; the daemon does the work from the event loop.
  const failStart = async (message: string, where: LogFields, event: string): Promise<number> => {
    logger.log('error', event, { ...where, message });
    await daemon.shutdown('startup_failed');
    await logger.close();
    process.stderr.write(`superd: cannot start: ${message}\n`);
    return 1;
  };

  // Wait sockets are watched by SIGIO (listen/readiness.ts), whose default
  // action ends the process: a stray one must be harmless from the start.
  process.on('SIGIO', () => undefined);
  process.on('SIGHUP', () => daemon.requestReload());
  process.on('SIGUSR2', () => logger.reopen());
  const stopped = new Promise<string>((resolve) => {
    // `on`, not `once`: a second SIGTERM during the grace period must not kill
    // superd with its default action and leave handlers and the pid file behind.
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  // Those that came while the CLI loaded: a HUP now is a reload once the first load is done.
  for (const signal of takeEarlySignals()) process.emit(signal, signal);

  // Before any service: the control socket is made under a temporary umask,
  // process-wide state that a handler spawned meanwhile on a pool thread
  // would inherit.
  let control: Server | null = null;
  const served = await serveControl(o.controlSocket, () => daemon.snapshot());
  if (served instanceof Error) {
    logger.log('warn', 'control_socket', { path: o.controlSocket, error: served.message, message: '`superd status` will not reach this daemon' });
  } else {
    control = served;
  }

  const fatal = await daemon.start();
  if (fatal !== null) {
    if (control !== null) await closeControl(control, o.controlSocket);
    return failStart(formatConfigError(fatal), { file: fatal.file, line: fatal.line }, 'config_error');
  }

  const watcher = o.watch ? await startWatch(o.servicesDir, () => daemon.requestReload()) : null;

  const notReady = await daemon.ready({ watch: o.watch, user_switch: spawner.userSwitch });
  if (notReady !== null) {
    await watcher?.close();
    if (control !== null) await closeControl(control, o.controlSocket);
    return failStart(notReady.message, {}, 'startup_failed');
  }

  const signal = await stopped;
  await watcher?.close();
  if (control !== null) await closeControl(control, o.controlSocket);
  await daemon.shutdown(signal);
  logger.log('info', 'stopped', { signal });
  await logger.close();
  return 0;
}

async function startWatch(dir: string, reload: () => void): Promise<{ close(): Promise<void> }> {
  // Loaded only when asked for: an idle daemon should not carry a file watcher.
  const { watch } = await import('chokidar');
  let timer: NodeJS.Timeout | null = null;
  const watcher = watch(dir, { ignoreInitial: true, depth: 0 });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  watcher.on('all', (_event, path) => {
    if (!path.endsWith('.conf')) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      reload();
    }, WATCH_DEBOUNCE_MS);
  });
  return {
    close: async () => {
      if (timer !== null) clearTimeout(timer);
      await watcher.close();
    },
  };
}
