// Starts handlers with Node's child_process (libuv: fork + exec). Slower than
// posix_spawn, but it can switch uid/gid (and drops supplementary groups when
// it does), which posix_spawn cannot; it is also the fallback where the
// native layer (sys/) cannot load.
import { spawn as spawnChild, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { strerror } from '../sys/errors.js';
import type { ExitStatus, SpawnResult, Spawner, SpawnRequest } from './types.js';

export class ChildProcessSpawner implements Spawner {
  readonly name = 'child_process';

  spawn(req: SpawnRequest, onStarted: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void {
    onStarted(this.start(req, onExit));
  }

  private start(req: SpawnRequest, onExit: (status: ExitStatus) => void): SpawnResult {
    const env: NodeJS.ProcessEnv = {};
    for (const entry of req.env) {
      const eq = entry.indexOf('=');
      env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    const stderr = req.stderr === 'log' ? 'pipe' : req.stderr === 'socket' ? req.fd : 'ignore';
    const stdio: StdioOptions = [req.fd, req.fd, stderr];
    try {
      const child = spawnChild(req.program, req.argv.slice(1), {
        argv0: req.argv[0] ?? req.program,
        env,
        cwd: '/',
        stdio,
        detached: true, // setsid(): its own session and process group
        ...(req.credentials === null ? {} : { uid: req.credentials.uid, gid: req.credentials.gid }),
      });
      if (child.pid === undefined) {
        // Node reports why only later, as 'error'; nothing runs. Ask the file system now.
        child.on('error', () => undefined);
        return { code: 'spawn_failed', message: `cannot execute ${req.program}: ${whyNotExecutable(req.program)}` };
      }
      child.on('error', () => undefined);
      // libuv reaps it by pid; superd's reaper leaves every pid it did not start alone (reap/reaper.ts).
      child.on('exit', (code, signal) => onExit({ code, signal }));
      return { pid: child.pid, stderr: child.stderr };
    } catch (err) {
      return { code: 'spawn_failed', message: `cannot execute ${req.program}: ${(err as Error).message}` };
    }
  }
}

/** Only on the failure path, so a synchronous look is fine. */
function whyNotExecutable(program: string): string {
  try {
    accessSync(program, constants.X_OK);
    return 'the program could not be started';
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Node's errno is negative; the same words as the posix_spawn path.
    return e.errno === undefined ? e.message : strerror(-e.errno);
  }
}
