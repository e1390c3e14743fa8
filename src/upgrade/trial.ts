// Step one of an upgrade in place: the new image is tried before the old one
// gives anything up. It is started as a child (the same node, node options,
// script and arguments superd was started with) in a hidden trial mode:
// loading the CLI loads the whole module graph the daemon uses (cli, daemon,
// listen, spawn), and the trial then loads the native layer with the calls an
// upgrade needs and reads the services dir, binding nothing. Exit 0, or 1
// with the error on stderr. An image that cannot even load never replaces
// one that works.
import { spawn } from 'node:child_process';
import { formatConfigError } from '../errors.js';
import { loadServicesDir } from '../config/load.js';
import { reexecAvailable } from '../sys/reexec.js';

/** Set in the trial child's environment; taken out at once (run.ts), so no handler ever sees it. */
export const TRIAL_VARIABLE = 'SUPERD_UPGRADE_TRIAL';
/** Loading takes well under a second; a slow disk or a loaded host gets far more. */
export const TRIAL_TIMEOUT_MS = 30000;
/** What of the trial's stderr is kept for the reason. */
const MAX_STDERR = 4000;

/** Whether this process is an upgrade's trial; the variable is gone either way. */
export function takeTrialMode(env: NodeJS.ProcessEnv): boolean {
  const trial = env[TRIAL_VARIABLE] === '1';
  delete env[TRIAL_VARIABLE];
  return trial;
}

/** The command line this process was started with: the new image is started the same way (a new version installed at the same path). */
export function ownCommandLine(): string[] {
  return [...process.execArgv, process.argv[1] ?? '', ...process.argv.slice(2)];
}

/** Null when the new image passed its trial, else why not (its stderr, shortened). */
export function tryNewImage(timeoutMs = TRIAL_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ownCommandLine(), {
      env: { ...process.env, [TRIAL_VARIABLE]: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let settled = false;
    const done = (why: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(why);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(`the new image did not finish loading within ${Math.round(timeoutMs / 1000)} s`);
    }, timeoutMs);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk;
    });
    child.on('error', (err) => done(`cannot start the new image (${process.execPath}): ${err.message}`));
    child.on('close', (code, signal) => {
      if (code === 0) return done(null);
      const how = signal === null ? `exit status ${String(code)}` : `signal ${signal}`;
      done(`the new image failed to load (${how}): ${summary(stderr)}`);
    });
  });
}

/** Node's report of an error that stopped it: the lines that say what and where, without the stack. */
function summary(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !/^\s*\^+\s*$/.test(l));
  const text = lines.join(' | ').slice(0, MAX_STDERR);
  return text === '' ? 'nothing on stderr' : text;
}

/** The trial itself, in the child: 0 when this image can run the daemon, else 1 with the reason on stderr. */
export async function runTrial(servicesDir: string): Promise<number> {
  const unavailable = reexecAvailable();
  if (unavailable !== null) {
    process.stderr.write(`superd: the native layer an upgrade needs does not load: ${unavailable.message}\n`);
    return 1;
  }
  const load = await loadServicesDir(servicesDir);
  if (load.fatal !== null) {
    process.stderr.write(`superd: ${formatConfigError(load.fatal)}\n`);
    return 1;
  }
  return 0;
}
