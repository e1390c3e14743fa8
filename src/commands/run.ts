// `superd [run]`: the daemon in the foreground, wired to its signals.
import { closeSync, fstatSync, openSync } from 'node:fs';
import type { Server } from 'node:net';
import type { CommonOptions } from '../cli.js';
import { closeControl, serveControl, type ControlHandlers } from '../control/server.js';
import { Daemon } from '../daemon.js';
import { formatConfigError } from '../errors.js';
import { fatalHandler, installFatalHandler } from '../fatal.js';
import { createLogger } from '../log/logger.js';
import { stderrPrefix } from '../log/journal.js';
import { checkLogFile } from '../log/target.js';
import type { LogFields } from '../log/types.js';
import { systemdNotifier } from '../notify.js';
import { inheritedSockets, takeListenEnvironment } from '../listen/inherited.js';
import { readiness } from '../listen/readiness.js';
import { FdPressure } from '../service/fdpressure.js';
import { HandlerSpawner } from '../spawn/spawner.js';
import { adoptPaths } from '../internals/adopt.js';
import { checkInternals, describePaths, parseBets } from '../internals/check.js';
import type { Bet } from '../internals/paths.js';
import { startWatch } from '../watch.js';
import { removePidFile } from '../pidfile.js';
import { ACTED_ON, catchSignals } from '../signals.js';
import { loadSys } from '../sys/load.js';
import type { MetricsServer } from '../metrics/index.js';
import { formatMetricsAddress } from '../metrics/address.js';
import { answerClient, salvage, settle, takeControl, takeOver, takeUpgradeState, upgradedFields } from '../upgrade/resume.js';
import { runTrial, takeTrialMode } from '../upgrade/trial.js';
import { Upgrader } from '../upgrade/upgrader.js';

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
  const libc = loadSys();
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

/** --avoid-internals, already validated by the command line (cli.ts). */
function avoidedBets(text: string | undefined): Set<Bet> {
  const bets = text === undefined ? new Set<Bet>() : parseBets(text);
  return bets instanceof Error ? new Set<Bet>() : bets;
}

export async function runDaemon(o: CommonOptions & { spawner?: string; avoidInternals?: string }): Promise<number> {
  // An upgrade's trial of this image (upgrade/trial.ts): loaded, now a look at the services dir, and out.
  if (takeTrialMode(process.env)) return runTrial(o.servicesDir);
  // Socket activation (listen/inherited.ts) and an upgrade in place
  // (upgrade/resume.ts): read and removed before anything else, so that no
  // handler ever sees the variables.
  const upgrade = takeUpgradeState(process.env);
  const passed = takeListenEnvironment(process.env, process.pid);
  ensureStandardFds();
  closeInheritedOnExec();
  dropSupplementaryGroups();
  // What superd will never write into (a symlink, a block device) stops it
  // here, with nothing started; a file that merely cannot be opened yet (its
  // directory missing, a full disk) is tried again as superd runs (log/sink.ts).
  const refusedLog = o.logFile === undefined ? null : await checkLogFile(o.logFile);
  if (refusedLog !== null) {
    process.stderr.write(`${stderrPrefix('error')}superd: cannot start: ${refusedLog.message}\n`);
    return 1;
  }
  const plainLogger = createLogger({ level: o.logLevel, format: o.logFormat, file: o.logFile ?? null });
  // --metrics counts the log's events as they are logged (metrics/tap.ts); without it nothing is loaded for it.
  const metrics = o.metrics === undefined ? null : (await import('../metrics/index.js')).createMetrics(plainLogger);
  const logger = metrics?.logger ?? plainLogger;
  // From here on an exception nothing caught is logged and ends superd with
  // status 70, for its service manager to restart it (fatal.ts says why).
  let control: Server | null = null;
  let metricsServer: MetricsServer | null = null;
  installFatalHandler(
    fatalHandler({
      logger,
      cleanup: async () => {
        if (control !== null) await closeControl(control, o.controlSocket);
        if (o.pidFile !== undefined) await removePidFile(o.pidFile, process.pid);
      },
      exit: (code) => process.exit(code),
    }),
  );
  inheritedSockets.adopt(passed, logger);
  if (upgrade instanceof Error) {
    logger.log('error', 'upgrade_state', { message: `${upgrade.message}; starting afresh, on the listening sockets the old image left open` });
    inheritedSockets.adopt(salvage(), logger);
  }
  const resumed = upgrade instanceof Error ? null : upgrade;
  const self = { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  // Before anything is bound: which of Node's internals hold here (internals/).
  const [spawner, internals] = await Promise.all([
    HandlerSpawner.create({ usePosixSpawn: o.spawner !== 'node', self }),
    checkInternals({ avoid: avoidedBets(o.avoidInternals) }),
  ]);
  const noDescriptor = adoptPaths(internals, logger);
  if (noDescriptor !== null) {
    logger.log('error', 'node_internals', { message: noDescriptor.message });
    await logger.close();
    process.stderr.write(`${stderrPrefix('error')}superd: cannot start: ${noDescriptor.message}\n`);
    return 1;
  }
  if (spawner.fallbackReason !== null && o.spawner !== 'node') {
    logger.log('warn', 'spawner', { message: `using child_process (forks superd per handler) where the fast path cannot serve: ${spawner.fallbackReason}` });
  }
  const daemon = new Daemon({
    servicesDir: o.servicesDir,
    pidFile: o.pidFile ?? null,
    shutdownGraceSeconds: o.shutdownGrace,
    context: { spawner, logger, environment: process.env, fdPressure: new FdPressure(logger) },
    lifecycle: systemdNotifier(process.env.NOTIFY_SOCKET, logger),
    ...(resumed === null ? {} : { restored: { startedAt: resumed.startedAt, lastReload: resumed.lastReload } }),
  });
  const upgrader = new Upgrader({ daemon, logger, spawner, control: () => control, controlPath: o.controlSocket });

  // Signals only ask; the daemon does the work from the event loop.
  const failStart = async (message: string, where: LogFields, event: string): Promise<number> => {
    logger.log('error', event, { ...where, message });
    await daemon.shutdown('startup_failed');
    await logger.close();
    process.stderr.write(`${stderrPrefix('error')}superd: cannot start: ${message}\n`);
    return 1;
  };

  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  // `on`, not `once` (signals.ts): a second SIGTERM during the grace period
  // must not kill superd with its default action and leave handlers and the
  // pid file behind. Those that came while the CLI loaded act now: a HUP is a
  // reload once the first load is done.
  catchSignals(
    {
      SIGHUP: () => daemon.requestReload(),
      SIGUSR2: () => logger.reopen(),
      SIGTERM: () => stop('SIGTERM'),
      SIGINT: () => stop('SIGINT'),
    },
    (signal) =>
      logger.log('warn', 'signal_ignored', {
        signal,
        message: `${signal} ignored: superd acts on ${ACTED_ON.join(', ')} only (logged once per signal)`,
      }),
  );

  // The epoll set that wait sockets and parked stderr pipes are watched in is
  // the daemon's from the start, so that descriptor counts taken later come
  // back to where they were; its thread runs only while something is watched.
  readiness();

  // Before any service, so that `superd status` answers as soon as one is up.
  const handlers: ControlHandlers = {
    status: () => daemon.snapshot(),
    reload: { next: () => daemon.nextReload(), request: () => daemon.requestReload() },
    upgrade: (conn) => upgrader.run(conn),
    logger,
  };
  // After an upgrade, the socket the old image served: no other superd to look for.
  const served = (resumed === null ? null : await takeControl(resumed, handlers)) ?? (await serveControl(o.controlSocket, handlers));
  if (served instanceof Error && served.code === 'superd_running') {
    // SPEC §5: one superd per control socket. Nothing is bound yet, and the
    // other's socket and pid file are its own (removePidFile checks the pid).
    return failStart(served.message, { path: o.controlSocket }, 'control_socket');
  }
  if (served instanceof Error) {
    logger.log('warn', 'control_socket', { path: o.controlSocket, error: served.message, message: '`superd status` and `superd reload` will not reach this daemon' });
  } else {
    control = served;
  }

  // After the control socket (a second superd says so, not that the port is taken), before any service.
  if (metrics !== null && o.metrics !== undefined) {
    const serving = await metrics.serve(o.metrics, () => daemon.snapshot());
    if ('code' in serving) {
      if (control !== null) await closeControl(control, o.controlSocket);
      return failStart(serving.message, { address: formatMetricsAddress(o.metrics) }, 'startup_failed');
    }
    metricsServer = serving;
    const where = formatMetricsAddress(serving.address);
    logger.log('info', 'listening', { address: `${where}/tcp`, url: `http://${where}/metrics` });
  }

  if (resumed !== null) takeOver(resumed, daemon.forUpgrade.services, logger);
  const fatal = await daemon.start();
  if (fatal !== null) {
    await metricsServer?.close();
    if (control !== null) await closeControl(control, o.controlSocket);
    return failStart(formatConfigError(fatal), { file: fatal.file, line: fatal.line }, 'config_error');
  }
  if (resumed !== null) settle(daemon.forUpgrade.services, spawner, logger);

  const watcher = o.watch ? await startWatch(o.servicesDir, () => daemon.requestReload(), logger) : null;

  const notReady = await daemon.ready(
    {
      watch: watcher?.active ?? false,
      user_switch: spawner.userSwitch,
      handler_limits: spawner.handlerLimits,
      node_internals: describePaths(internals),
      metrics: metricsServer === null ? undefined : formatMetricsAddress(metricsServer.address),
      ...(resumed === null ? {} : upgradedFields(resumed)),
    },
    resumed === null ? 'started' : 'upgraded',
  );
  if (notReady !== null) {
    await watcher?.close();
    await metricsServer?.close();
    if (control !== null) await closeControl(control, o.controlSocket);
    return failStart(notReady.message, {}, 'startup_failed');
  }
  if (resumed !== null) answerClient(resumed);

  const signal = await stopped;
  await watcher?.close();
  await metricsServer?.close();
  if (control !== null) await closeControl(control, o.controlSocket);
  await daemon.shutdown(signal);
  logger.log('info', 'stopped', { signal });
  await logger.close();
  return 0;
}
