// The command line (SPEC §1): parse options, then hand over to one command.
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { runDaemon } from './commands/run.js';
import { defaultControlSocket } from './control/path.js';
import { parseBets } from './internals/check.js';
import { stderrPrefix } from './log/journal.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function common(y: Argv): Argv<CommonOptions> {
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
    .option('control-socket', { type: 'string', default: defaultControlSocket(), describe: 'the unix socket `superd status` and `superd reload` use (mode 0600: its user and root only)' })
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
  controlSocket: string;
  json: boolean;
  hostsAllow: string;
  hostsDeny: string;
}

/** Options that may also come from SUPERD_<OPTION> (SPEC §1). */
const ENV_OPTIONS = ['services-dir', 'pid-file', 'watch', 'log-level', 'log-format', 'log-file', 'shutdown-grace', 'control-socket', 'spawner', 'avoid-internals', 'json', 'hosts-allow', 'hosts-deny'];

/**
 * SUPERD_<OPTION> variables as extra arguments, for options not given on the
 * command line. Done here rather than with yargs' .env(): that treats every
 * SUPERD_* variable as an option, and strict parsing then rejects the
 * SUPERD_SERVICE every handler has in its environment.
 */
export function optionsFromEnvironment(argv: string[], env: NodeJS.ProcessEnv): string[] {
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]));
  if (argv.some((a) => a.startsWith('-d'))) given.add('services-dir');
  const extra: string[] = [];
  for (const name of ENV_OPTIONS) {
    const value = env[`SUPERD_${name.toUpperCase().replace(/-/g, '_')}`];
    if (value !== undefined && !given.has(name)) extra.push(`--${name}=${value}`);
  }
  return extra;
}

class UsageError extends Error {}

/**
 * A usage error of the daemon (`superd run --bad`, in a unit's ExecStart) is
 * why it never started: on the journal it is an error (log/journal.ts). The
 * other commands' usage messages are not the daemon's log and get no prefix.
 */
function daemonUsagePrefix(argv: string[]): string {
  const other = ['check', 'reload', 'status', 'convert', 'completion'];
  return argv.some((a) => other.includes(a)) ? '' : stderrPrefix('error');
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const args = [...argv, ...optionsFromEnvironment(argv, process.env)];
  const parser = common(yargs(args))
    .scriptName('superd')
    .usage('$0 [command] [options]\n\nAn inetd-style super-server: one daemon listens on every port the files in the services dir declare and starts a handler program for each connection.')
    .command(['run', '$0'], 'run the daemon in the foreground', {}, async (o) => {
      exitCode = await runDaemon(o as unknown as CommonOptions);
    })
    .command(
      'check [file]',
      'validate the services dir (or one file): one line per valid service, every problem on stderr',
      (y) => y.positional('file', { type: 'string', describe: 'check this service file alone' }),
      async (o) => {
        // The other commands are loaded when run: the daemon need not carry them.
        const { runCheck } = await import('./commands/check.js');
        exitCode = await runCheck({ ...(o as unknown as CommonOptions), file: typeof o.file === 'string' ? o.file : undefined });
      },
    )
    .command('reload', 'reload the running daemon (over --control-socket, or SIGHUP to the superd in --pid-file), wait, print its summary and errors; exit 1 if it had errors', {}, async (o) => {
      const { runReload } = await import('./commands/reload.js');
      exitCode = await runReload(o as unknown as CommonOptions);
    })
    .command(
      'status [name]',
      "print the running daemon's services and figures (or one service's)",
      (y) => y.positional('name', { type: 'string', describe: 'only this service' }),
      async (o) => {
        const { runStatus } = await import('./commands/status.js');
        exitCode = await runStatus({ ...(o as unknown as CommonOptions), name: typeof o.name === 'string' ? o.name : undefined });
      },
    )
    .command(
      'convert <source>',
      'turn an inetd.conf file, or an xinetd file or directory, into service files',
      (y) =>
        y
          .positional('source', { type: 'string', demandOption: true, describe: 'inetd.conf, an xinetd file, or an xinetd directory' })
          .option('output', { alias: 'o', type: 'string', describe: 'write one .conf per input file into this directory (never overwriting) instead of stdout' }),
      async (o) => {
        const { runConvert } = await import('./commands/convert.js');
        exitCode = await runConvert({ source: String(o.source), output: o.output }, { hostsAllow: o.hostsAllow, hostsDeny: o.hostsDeny });
      },
    )
    .check((o) => {
      const avoid = (o as { avoidInternals?: unknown }).avoidInternals;
      const bets = typeof avoid === 'string' ? parseBets(avoid) : null;
      if (bets instanceof Error) throw bets;
      const grace = (o as unknown as CommonOptions).shutdownGrace;
      if (!Number.isFinite(grace) || grace < 0) throw new Error(`--shutdown-grace must be a number of seconds >= 0, got '${String(grace)}'`);
      return true;
    })
    .example('$0 -d /etc/superd/services.d', 'serve that directory, in the foreground')
    .example('$0 run --watch --log-format json', 'also reload on changes; JSON logs')
    .example('$0 check', 'validate the services dir')
    .example('$0 check ./git.conf', 'validate one service file')
    .example('$0 reload', 'reload, wait, print what changed')
    .example('$0 reload --pid-file /run/superd.pid', 'the same, by SIGHUP (the systemd unit)')
    .example('$0 status', 'services, figures, last errors')
    .example('$0 status git --json', 'one service, as JSON')
    .example('$0 convert /etc/inetd.conf', 'inetd.conf -> service files on stdout')
    .example('$0 convert /etc/xinetd.d -o /etc/superd/services.d', 'one .conf per xinetd file')
    .example('$0 completion >> ~/.bashrc', 'bash completion of commands and options')
    // yargs writes the bash script for `superd completion`, and answers the
    // shell's --get-yargs-completions queries from it.
    .completion('completion', 'print a bash completion script')
    .strict()
    .version(pkg.version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
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
