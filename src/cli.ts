// The command line (SPEC §1): parse options, then hand over to one command.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { runDaemon } from './commands/run.js';
import { parseBool } from './config/values.js';
import { defaultControlSocket } from './control/path.js';
import { fail, ok, type Result } from './errors.js';
import { parseBets } from './internals/check.js';
import { stderrPrefix } from './log/journal.js';
import { startsDaemon } from './daemon-argv.js';
import { examples, helpWidth } from './cli-help.js';
import { parseMetricsAddress, type MetricsAddress } from './metrics/address.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Where the options of a command line are taken to be: this process's, or (daemonOptions) a running superd's. */
interface Context {
  /** The default control socket, from that process's environment and uid. */
  controlSocket: string;
  /** Its working directory, which a relative --control-socket is in. */
  cwd: string;
}

function common(y: Argv, context: Context = { controlSocket: defaultControlSocket(), cwd: process.cwd() }): Argv<CommonOptions> {
  return y
    .option('services-dir', {
      alias: 'd',
      type: 'string',
      default: '/etc/superd/services.d',
      describe: 'where service files are read',
    })
    .option('pid-file', { type: 'string', describe: 'run: write the pid there once the listeners are up (not through a symlink), remove it at exit; reload: signal the superd it names' })
    .option('watch', { type: 'boolean', default: false, describe: 'also reload when a *.conf file in the services dir is created, changed or removed' })
    .option('log-level', {
      choices: ['error', 'warn', 'info', 'debug'] as const,
      default: 'info' as const,
      describe: 'least severe level logged',
    })
    .option('log-format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'log line format' })
    .option('log-file', { type: 'string', describe: 'append log lines to FILE instead of stderr; reopened on SIGUSR2; never through a symlink (one there, or a directory or socket, stops the start); a file that cannot be written later never stops superd' })
    .option('shutdown-grace', {
      type: 'number',
      default: 10,
      describe: 'seconds running handlers may go on after SIGTERM/SIGINT before their process groups get SIGTERM, then SIGKILL 5 s later',
    })
    .option('metrics', {
      type: 'string',
      // Checked here, so that a bad value stops superd before anything starts.
      // Given twice (an environment file and a command line), the last one counts.
      coerce: (v: string | string[]) => {
        const parsed = parseMetricsAddress(String(Array.isArray(v) ? v[v.length - 1] : v));
        if (!parsed.ok) throw new Error(parsed.error);
        return parsed.value;
      },
      describe: 'serve Prometheus metrics at http://ADDRESS:PORT/metrics (a port alone: 127.0.0.1); off by default',
    })
    .option('control-socket', {
      type: 'string',
      default: context.controlSocket,
      // Absolute at once: the daemon places it from / (listen/unixdir.ts), a client connects from its own directory.
      coerce: (p: string) => resolve(context.cwd, p),
      describe: 'the unix socket `superd status` and `superd reload` use (mode 0600: its user and root only)',
    })
    .option('spawner', { choices: ['posix', 'node'] as const, default: 'posix' as const, hidden: true, describe: 'how handlers are started (for benchmarks)' })
    .option('avoid-internals', { type: 'string', hidden: true, describe: 'diagnostic: Node.js internals not to use (accept,stream,fd,pipe or all), as if their check at start had failed' })
    .option('json', { type: 'boolean', default: false, describe: 'status: print JSON instead of a table' })
    .option('hosts-allow', { type: 'string', default: '/etc/hosts.allow', describe: 'convert: the tcp wrappers table tcpd and xinetd applied (rules become only_from/no_access)' })
    .option('hosts-deny', { type: 'string', default: '/etc/hosts.deny', describe: 'convert: the tcp wrappers table of refusals' }) as unknown as Argv<CommonOptions>;
}

export interface CommonOptions {
  servicesDir: string;
  pidFile: string | undefined;
  watch: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'text' | 'json';
  logFile: string | undefined;
  shutdownGrace: number;
  /** --metrics: where the Prometheus endpoint listens; undefined: off. */
  metrics: MetricsAddress | undefined;
  controlSocket: string;
  json: boolean;
  hostsAllow: string;
  hostsDeny: string;
}

const envName = (option: string): string => `SUPERD_${option.toUpperCase().replace(/-/g, '_')}`;

/** Options that may also come from SUPERD_<OPTION> (SPEC §1). */
const ENV_OPTIONS = ['services-dir', 'pid-file', 'watch', 'log-level', 'log-format', 'log-file', 'shutdown-grace', 'metrics', 'control-socket', 'spawner', 'avoid-internals', 'json', 'hosts-allow', 'hosts-deny'];

/**
 * SUPERD_<OPTION> variables as extra arguments, for options not given on the
 * command line. Done here rather than with yargs' .env(): that treats every
 * SUPERD_* variable as an option, and strict parsing then rejects the
 * SUPERD_SERVICE every handler has in its environment.
 */
export function optionsFromEnvironment(argv: string[], env: NodeJS.ProcessEnv): string[] {
  // --no-watch gives watch too.
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]?.replace(/^no-/, '')));
  if (argv.some((a) => a.startsWith('-d'))) given.add('services-dir');
  const extra: string[] = [];
  for (const name of ENV_OPTIONS) {
    const value = env[envName(name)];
    if (value !== undefined && !given.has(name)) extra.push(`--${name}=${value}`);
  }
  return extra;
}

/** The options that are on or off. yargs alone takes only `true` (`--watch=yes` would silently be off). */
const BOOLEAN_OPTIONS = ['watch', 'json'];

/**
 * `--watch=VALUE` (VALUE as a service file spells a boolean, SPEC §2) as
 * `--watch` or `--no-watch`, for yargs; anything else stays as it is. A value
 * that is no boolean is an error naming the option, or the variable it came
 * from (`name`).
 */
function booleanArguments(args: string[], name: (option: string) => string): Result<string[], string> {
  const out: string[] = [];
  for (const arg of args) {
    const m = /^--(no-)?([a-z-]+)=(.*)$/s.exec(arg);
    const option = m?.[2] ?? '';
    if (m === null || !BOOLEAN_OPTIONS.includes(option)) {
      out.push(arg);
      continue;
    }
    const value = parseBool(name(`${m[1] ?? ''}${option}`), m[3] ?? '');
    if (!value.ok) return value;
    out.push(value.value === (m[1] === undefined) ? `--${option}` : `--no-${option}`);
  }
  return ok(out);
}

/** yargs' flag for bash completion: the words after it are the ones typed, the current one last. */
const COMPLETING = '--get-yargs-completions';

/**
 * The command line with the SUPERD_<OPTION> variables for options it does
 * not give, booleans spelled for yargs; or what is wrong with a boolean.
 * Completion takes none from the environment: yargs completes the last word,
 * which would then be an option from the environment, never the word typed.
 */
export function argumentsWithEnvironment(argv: string[], env: NodeJS.ProcessEnv): Result<string[], string> {
  const given = booleanArguments(argv, (option) => `--${option}`);
  if (!given.ok || argv.includes(COMPLETING)) return given;
  const fromEnv = booleanArguments(optionsFromEnvironment(argv, env), envName);
  return fromEnv.ok ? ok([...given.value, ...fromEnv.value]) : fromEnv;
}

/**
 * The options of a superd that runs with these arguments (after its script),
 * environment, uid and working directory, parsed as that superd parsed them: where its control
 * socket is (control/find.ts), without asking it.
 */
export function daemonOptions(args: string[], env: NodeJS.ProcessEnv, uid: number, cwd: string): Result<CommonOptions, string> {
  const all = argumentsWithEnvironment(args, env);
  if (!all.ok) return all;
  try {
    const parsed = common(yargs(all.value), { controlSocket: defaultControlSocket(env, uid), cwd })
      .help(false)
      .version(false)
      .exitProcess(false)
      .fail((msg, err) => {
        throw new UsageError(err?.message ?? msg);
      })
      .parseSync();
    return ok(parsed as unknown as CommonOptions);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

class UsageError extends Error {}

/**
 * A usage error of the daemon (`superd run --bad`, in a unit's ExecStart) is
 * why it never started: on the journal it is an error (log/journal.ts). The
 * other commands' usage messages are not the daemon's log and get no prefix.
 */
function daemonUsagePrefix(argv: string[]): string {
  return startsDaemon(argv) ? stderrPrefix('error') : '';
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const args = argumentsWithEnvironment(argv, process.env);
  if (!args.ok) {
    process.stderr.write(`${daemonUsagePrefix(argv)}superd: ${args.error}\nTry 'superd --help'.\n`);
    return 1;
  }
  // The top level's --help shows every example (run's through its builder, as the default command); a command's, its own.
  const parser = examples(common(yargs(args.value)), { except: 'run' })
    .scriptName('superd')
    .usage('$0 [command] [options]\n\nAn inetd-style super-server: one daemon listens on every port the files in the services dir declare and starts a handler program for each connection.')
    .command(['run', '$0'], 'run the daemon in the foreground', (y) => examples(y, { only: 'run' }), async (o) => {
      exitCode = await runDaemon(o as unknown as CommonOptions);
    })
    .command(
      'check [file]',
      'validate the services dir (or one file): one line per valid service, every problem on stderr',
      (y) => examples(y.positional('file', { type: 'string', describe: 'check this service file alone' }), { only: 'check' }),
      async (o) => {
        // The other commands are loaded when run: the daemon need not carry them.
        const { runCheck } = await import('./commands/check.js');
        exitCode = await runCheck({ ...(o as unknown as CommonOptions), file: typeof o.file === 'string' ? o.file : undefined });
      },
    )
    .command('reload', 'reload the running daemon (over --control-socket, or SIGHUP to the superd in --pid-file), wait, print its summary and errors; exit 1 if it had errors', (y) => examples(y, { only: 'reload' }), async (o) => {
      const { runReload } = await import('./commands/reload.js');
      exitCode = await runReload(o as unknown as CommonOptions);
    })
    .command('upgrade', 're-exec the running daemon in place (same pid; no listening socket closed, running handlers kept), once the new version has loaded; exit 1 if the old one goes on', (y) => examples(y, { only: 'upgrade' }), async (o) => {
      const { runUpgrade } = await import('./commands/upgrade.js');
      exitCode = await runUpgrade(o as unknown as CommonOptions);
    })
    .command(
      'status [name]',
      "print the running daemon's services and figures (or one service's)",
      (y) => examples(y.positional('name', { type: 'string', describe: 'only this service' }), { only: 'status' }),
      async (o) => {
        const { runStatus } = await import('./commands/status.js');
        exitCode = await runStatus({ ...(o as unknown as CommonOptions), name: typeof o.name === 'string' ? o.name : undefined });
      },
    )
    .command(
      'convert <source>',
      'turn an inetd.conf file, or an xinetd file or directory, into service files',
      (y) =>
        examples(
          y
            .positional('source', { type: 'string', demandOption: true, describe: 'inetd.conf, an xinetd file, or an xinetd directory' })
            .option('output', { alias: 'o', type: 'string', describe: 'write one .conf per input file into this directory (never overwriting) instead of stdout' }),
          { only: 'convert' },
        ),
      async (o) => {
        const { runConvert } = await import('./commands/convert.js');
        exitCode = await runConvert({ source: String(o.source), output: o.output }, { hostsAllow: o.hostsAllow, hostsDeny: o.hostsDeny });
      },
    )
    .command('unit', 'print a systemd unit that runs this superd with this node, by absolute path (with --services-dir and --pid-file if given)', (y) => examples(y, { only: 'unit' }), async (o) => {
      const { runUnit } = await import('./commands/unit.js');
      exitCode = runUnit(o as unknown as CommonOptions);
    })
    .check((o) => {
      const avoid = (o as { avoidInternals?: unknown }).avoidInternals;
      const bets = typeof avoid === 'string' ? parseBets(avoid) : null;
      if (bets instanceof Error) throw bets;
      const grace = (o as unknown as CommonOptions).shutdownGrace;
      if (!Number.isFinite(grace) || grace < 0) throw new Error(`--shutdown-grace must be a number of seconds >= 0, got '${String(grace)}'`);
      return true;
    })
    // yargs writes the bash script for `superd completion`, and answers the
    // shell's --get-yargs-completions queries from it.
    .completion('completion', 'print a bash completion script')
    .strict()
    .version(pkg.version)
    .help()
    .alias('h', 'help')
    .wrap(helpWidth())
    .fail((msg, err) => {
      // Throwing stops yargs from running the command after a usage error.
      throw new UsageError(err?.message ?? msg);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${daemonUsagePrefix(argv)}superd: ${err.message}\nTry 'superd --help'.\n`);
    return 1;
  }
  return exitCode;
}
