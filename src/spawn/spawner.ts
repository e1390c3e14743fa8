// Which mechanism starts a handler, and how many starts may be in flight.
//
//   superd's own ids (or the service names them) → posix_spawn on a pool thread
//   another user or group, setpriv found        → posix_spawn of setpriv, which
//                                                  switches ids, clears the inheritable
//                                                  and ambient capabilities, and execs
//                                                  the program
//   no native layer (no koffi, another host:    → child_process (forks the daemon);
//   sys/load.ts), or no trusted setpriv            of setpriv when there is one
//
// A superd that is not root but has inheritable or ambient capabilities
// (systemd's AmbientCapabilities=) would pass them on to every handler: its
// own handlers are started through setpriv too, which only clears those sets
// (capabilities.ts says why superd does not clear its own).
//
// libuv's thread pool (UV_THREADPOOL_SIZE, default 4, fixed before Node
// starts) is shared by these spawns, the --log-file writes and the reads of
// service files. A spawn holds a pool thread only until the child's exec, so
// a small pool suffices; MAX_IN_FLIGHT bounds how many are queued for it
// (koffi refuses calls past its own limit of 256). Its threads run
// SCHED_BATCH, as every thread but the event loop, so that waking one does
// not preempt the event loop (sched.ts).
//
// Whatever starts it, a handler gets umask 022 and a soft RLIMIT_NOFILE of
// min(1024, hard), as systemd gives its services; see HandlerLimits. A
// service that sets its own (umask, rlimit_*, nice…) goes through the
// trampolines of settings.ts, whichever mechanism starts it.
import { readFile } from 'node:fs/promises';
import { parseNice } from '../config/process-facts.js';
import type { Credentials, ProcessSettings } from '../config/types.js';
import { ownCapabilities, passedOnByExec } from './capabilities.js';
import { ExecutableCheck } from './executable.js';
import { hold, release } from './fd-holds.js';
import { loadSys } from '../sys/load.js';
import { HANDLER_UMASK, HandlerLimits } from './limits.js';
import { ChildProcessSpawner } from './child-process.js';
import { PosixSpawner } from './posix.js';
import { Reaper } from '../reap/reaper.js';
import { handlersNeedSession } from './session.js';
import { batchHelperThreads } from './sched.js';
import { StderrPipes } from '../stderr/pipes.js';
import { CLEAR_CAPABILITIES, findSetpriv, probeSetpriv, switchesUser, throughSetpriv, type Setpriv } from './setpriv.js';
import { throughTrampolines, type Trampolines } from './settings.js';
import { findTools } from './trampolines.js';
import { isSpawnError, type ExitStatus, type SpawnResult, type Spawner, type SpawnRequest } from './types.js';

const MAX_IN_FLIGHT = 64;

interface Waiting {
  req: SpawnRequest;
  onStarted: (result: SpawnResult) => void;
  onExit: (status: ExitStatus) => void;
}

export interface SpawnerChoice {
  /** posix_spawn unless disabled (`--spawner node`) or the native layer cannot load. */
  usePosixSpawn: boolean;
  self: { uid: number; gid: number };
}

/** What the `started` line and the `spawner` warning say besides the mechanism. */
interface Notes {
  /** After the spawner's name: how superd's own handlers lose the capabilities they would inherit, or that they keep them and why. */
  capabilities: string | null;
  /** What setpriv said when asked to clear capabilities, or null when it does. */
  setprivRefused: string | null;
  fallbackReason: string | null;
  /** Why posix_spawn, asked for, cannot be had (no native layer on this host): the `started` line says it after `child_process`. */
  noPosixSpawn: string | null;
}

export class HandlerSpawner implements Spawner {
  /**
   * How handlers are started, for the `started` line: `posix_spawn` or
   * `child_process`, followed, where superd's own handlers would inherit
   * capabilities, by the setpriv that clears them or by why none does.
   */
  readonly name: string;
  /** How handlers of another user are started: `setpriv PATH` or `child_process`. */
  readonly userSwitch: string;
  /** Set when a fast path is unavailable, and why. */
  readonly fallbackReason: string | null;
  /** What handlers get, for the `started` line: `nofile=1024 umask=022`. */
  readonly handlerLimits: string;
  private readonly waiting: Waiting[] = [];
  private readonly executable = new ExecutableCheck();
  /** setpriv's argv for a service's argv and ids (null: superd's own), made once: the same array every connection (posix.ts keeps its NULL-terminated copy). */
  private readonly setprivArgv = new WeakMap<readonly string[], { uid: number; gid: number; argv: string[] }>();
  /** The same for a service's settings: its trampolines' request (or why none), made once. */
  private readonly settingsArgv = new WeakMap<ProcessSettings, { argv: readonly string[]; through: SpawnRequest | string }>();
  private inFlight = 0;
  /** Reaps the handlers an upgrade passed on where posix_spawn's reaper is not there (child_process). */
  private adoptedReaper: Reaper | null = null;

  private constructor(
    /** Handlers of another user where no setpriv can be trusted, and every handler where posix_spawn cannot be had. */
    private readonly childProcess: ChildProcessSpawner,
    private readonly posix: PosixSpawner | null,
    /** For user switches (root only), and for superd's own handlers when `clearOwn`. */
    private readonly setpriv: Setpriv | null,
    /** superd's own handlers go through setpriv too, which clears the capabilities they would inherit. */
    private readonly clearOwn: boolean,
    private readonly self: { uid: number; gid: number },
    notes: Notes,
    private readonly limits: HandlerLimits | null,
    private readonly trampolines: Trampolines,
  ) {
    const base = posix?.name ?? (notes.noPosixSpawn === null ? this.childProcess.name : `${this.childProcess.name} (posix_spawn unavailable: ${notes.noPosixSpawn})`);
    this.name = notes.capabilities === null ? base : `${base} ${notes.capabilities}`;
    const refused = notes.setprivRefused === null ? '' : ` (clears no capabilities: ${notes.setprivRefused})`;
    this.userSwitch = setpriv !== null && self.uid === 0 ? `setpriv ${setpriv.path}${refused}` : this.childProcess.name;
    this.fallbackReason = notes.fallbackReason;
    this.handlerLimits = `nofile=${limits?.describe() ?? 'inherited'} umask=${HANDLER_UMASK.toString(8).padStart(3, '0')}`;
  }

  static async create(choice: SpawnerChoice): Promise<HandlerSpawner> {
    // posix_spawn has no umask action, and the child copies the process's
    // umask at clone time, on whichever pool thread: so superd's own umask is
    // the handlers'. superd gives every file it creates an explicit mode.
    process.umask(HANDLER_UMASK);
    const loaded = loadSys();
    const limits = HandlerLimits.create(loaded instanceof Error ? null : loaded);
    const childProcess = new ChildProcessSpawner();
    const tools = await findTools();
    const ownNice = parseNice(await readFile('/proc/self/stat', 'utf8').catch(() => '')) ?? 0;
    const trampolines = (setpriv: Setpriv | null): Trampolines => ({
      nice: typeof tools.nice === 'string' ? tools.nice : null,
      shell: typeof tools.shell === 'string' ? tools.shell : null,
      prlimit: typeof tools.prlimit === 'string' ? tools.prlimit : null,
      // Where superd did not look for one (it needs none for itself), the settings' own: it has nothing to clear.
      setpriv: setpriv ?? (typeof tools.setpriv === 'string' ? { path: tools.setpriv, clears: [] } : null),
      ownNice,
    });
    // Asked for (benchmarks): every handler by child_process, as it is, and no setpriv but for the settings.
    if (!choice.usePosixSpawn) {
      return new HandlerSpawner(childProcess, null, null, false, choice.self, { capabilities: null, setprivRefused: null, fallbackReason: 'disabled by --spawner node', noPosixSpawn: null }, limits, trampolines(null));
    }
    const posix = loaded instanceof Error ? loaded : PosixSpawner.create(loaded, { ownSession: handlersNeedSession(), resetScheduler: await batchHelperThreads(loaded) }, { stderr: new StderrPipes(loaded) });
    const root = choice.self.uid === 0;
    // Root's own handlers are root: they could take any capability anyway.
    const inherited = root ? null : await inheritedCapabilities();
    // Only root can switch users; a non-root superd needs setpriv only to clear what its handlers would inherit.
    const found = root || inherited !== null ? await findSetpriv() : null;
    const refused = typeof found === 'string' ? await probeSetpriv(found) : null;
    const setpriv: Setpriv | null = typeof found === 'string' ? { path: found, clears: refused === null ? CLEAR_CAPABILITIES : [] } : null;
    const clearOwn = inherited !== null && setpriv !== null && refused === null;
    const clears = `via setpriv ${String(found)} ${CLEAR_CAPABILITIES.join(' ')}`;
    const cannot = found instanceof Error ? `no trusted setpriv: ${found.message}` : `setpriv ${String(found)} refuses ${CLEAR_CAPABILITIES.join(' ')}: ${String(refused)}`;
    const notes: Notes = {
      capabilities: inherited === null ? null : clearOwn ? clears : `(handlers inherit ${inherited}; ${cannot})`,
      setprivRefused: refused,
      fallbackReason: posix instanceof Error ? posix.message : root && found instanceof Error ? `no trusted setpriv for user switches: ${found.message}` : null,
      noPosixSpawn: posix instanceof Error ? posix.message : null,
    };
    return new HandlerSpawner(childProcess, posix instanceof Error ? null : posix, setpriv, clearOwn, choice.self, notes, limits, trampolines(setpriv));
  }

  spawn(req: SpawnRequest, reported: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void {
    const unusable = unusableDescriptor(req.fd);
    if (unusable !== null) {
      reported({ code: 'spawn_failed', message: `cannot execute ${req.program}: ${unusable}; not started` });
      return;
    }
    // Its number must not be freed and reused before the spawn that dup2s it has returned (fd-holds.ts).
    hold(req.fd);
    const started = (result: SpawnResult): void => {
      try {
        reported(result);
      } finally {
        release(req.fd);
      }
    };
    const { limits } = this;
    const { credentials, settings } = req;
    const switched = switchesUser(credentials, this.self);
    // A switched handler superd cannot reach keeps superd's limit, as the
    // `started` line says: no prlimit that fails (or, racing setpriv, sometimes not).
    // One whose service sets rlimit_nofile has it from its trampoline.
    const onStarted =
      limits === null || (switched && !limits.reachesOthers) || settings?.rlimits.some((l) => l.name === 'nofile') === true
        ? started
        : (result: SpawnResult): void => {
            if (!isSpawnError(result)) limits.apply(result.pid);
            started(result);
          };
    if (!switched) {
      const own = settings !== undefined ? this.settingsRequest(req, settings, null) : this.clearOwn && this.setpriv !== null ? this.setprivRequest(this.setpriv, req, null) : req;
      if (typeof own === 'string') onStarted({ code: 'spawn_failed', message: `cannot execute ${req.program}: ${own}` });
      else this.start({ req: own, onStarted, onExit });
      return;
    }
    // Whatever starts it, the handler is held to its user's permissions here.
    const problem = this.executable.check(req.program, credentials.uid, credentials.gid);
    if (problem instanceof Promise) void problem.then((p) => this.switched(p, credentials, { req, onStarted, onExit }));
    else this.switched(problem, credentials, { req, onStarted, onExit });
  }

  /** A handler an upgrade passed on (src/upgrade/): reaped with posix_spawn's, or by a reaper of its own. */
  adopt(pid: number, onExit: (status: ExitStatus) => void): void {
    if (this.posix !== null) return this.posix.adopt(pid, onExit);
    const sys = loadSys();
    if (sys instanceof Error) return onExit({ code: null, signal: null });
    this.adoptedReaper ??= new Reaper(sys, () => 0);
    this.adoptedReaper.adopt(pid, onExit);
  }

  unparkStderr(): void {
    this.posix?.unparkStderr();
  }

  private switched(problem: string | null, credentials: Credentials, w: Waiting): void {
    if (problem !== null) {
      w.onStarted({ code: 'spawn_failed', message: `cannot execute ${w.req.program}: ${problem}` });
      return;
    }
    if (w.req.settings !== undefined) {
      const through = this.settingsRequest(w.req, w.req.settings, credentials);
      if (typeof through === 'string') w.onStarted({ code: 'spawn_failed', message: `cannot execute ${w.req.program}: ${through}` });
      else this.start({ ...w, req: through });
      return;
    }
    // Without setpriv, child_process switches the ids itself (the inheritable set stays: see man/superd.8).
    if (this.setpriv === null) this.childProcess.spawn(w.req, w.onStarted, w.onExit);
    else this.start({ ...w, req: this.setprivRequest(this.setpriv, w.req, credentials) });
  }

  /** null credentials: as superd's own user, only clearing capabilities. */
  private setprivRequest(setpriv: Setpriv, req: SpawnRequest, credentials: Credentials | null): SpawnRequest {
    const { uid, gid } = credentials ?? this.self;
    const known = this.setprivArgv.get(req.argv);
    if (known !== undefined && known.uid === uid && known.gid === gid) return { ...req, program: setpriv.path, argv: known.argv, credentials: null };
    const through = throughSetpriv(setpriv, req, credentials);
    this.setprivArgv.set(req.argv, { uid, gid, argv: through.argv });
    return through;
  }

  /** Through the trampolines that apply the service's settings (settings.ts); `switched`: the user setpriv switches to. */
  private settingsRequest(req: SpawnRequest, s: ProcessSettings, switched: Credentials | null): SpawnRequest | string {
    const known = this.settingsArgv.get(s);
    const through = known !== undefined && known.argv === req.argv ? known.through : throughTrampolines(this.trampolines, req, s, switched, this.self, this.clearOwn);
    if (known === undefined || known.argv !== req.argv) this.settingsArgv.set(s, { argv: req.argv, through });
    return typeof through === 'string' ? through : { ...req, program: through.program, argv: through.argv, credentials: through.credentials };
  }

  /** posix_spawn on a pool thread, or child_process where the native layer cannot load. */
  private start(w: Waiting): void {
    if (this.posix === null) this.childProcess.spawn(w.req, w.onStarted, w.onExit);
    else this.queue(w);
  }

  private queue(w: Waiting): void {
    if (this.inFlight < MAX_IN_FLIGHT) this.launch(w);
    else this.waiting.push(w);
  }

  private launch({ req, onStarted, onExit }: Waiting): void {
    this.inFlight += 1;
    this.posix?.spawn(
      req,
      (result) => {
        this.inFlight -= 1;
        const next = this.waiting.shift();
        if (next !== undefined) this.launch(next);
        onStarted(result);
      },
      onExit,
    );
  }
}

/**
 * What superd's own handlers would inherit of its capabilities
 * (`CapAmb=0000000000000400`), or null. Sets that cannot be read are
 * cleared as though they held some, where setpriv can.
 */
async function inheritedCapabilities(): Promise<string | null> {
  const own = await ownCapabilities();
  return own instanceof Error ? `unknown capabilities (${own.message})` : passedOnByExec(own);
}

/**
 * Why fd cannot be a handler's connection, or null. A Node internal reports
 * -1 for a handle it has closed; 0..2 are superd's own standard descriptors.
 * Either would hand the handler superd's own fd 0 and 1. (A closed fd needs
 * no check here, on the path of every connection: posix_spawn's dup2 of it
 * fails, and so does the spawn, with EBADF.)
 */
function unusableDescriptor(fd: number): string | null {
  if (!Number.isInteger(fd) || fd < 0) return `the connection has no descriptor (fd ${fd})`;
  if (fd <= 2) return `fd ${fd} is one of superd's own standard descriptors, not a connection`;
  return null;
}
