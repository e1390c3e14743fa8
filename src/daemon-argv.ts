// Whether a command line starts the daemon or one of the other commands. The
// entry (bin/superd) asks before it loads anything else, to catch early
// signals for the daemon only; cli.ts asks to give a daemon's usage error the
// journal's priority. No imports: it is loaded before the CLI.

/** Words that make a command line something other than the daemon (yargs' completion call included). */
const NOT_THE_DAEMON = new Set([
  'check',
  'reload',
  'status',
  'upgrade',
  'convert',
  'unit',
  'completion',
  '--get-yargs-completions',
  '--help',
  '-h',
  '--version',
]);

export function startsDaemon(argv: readonly string[]): boolean {
  return !argv.some((a) => NOT_THE_DAEMON.has(a));
}
