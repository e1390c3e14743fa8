// --help's examples, and the width it is wrapped at.
import type { Argv } from 'yargs';

/** Examples for --help: the command they belong to, the command line, what it does. */
const EXAMPLES: ReadonlyArray<readonly [string, string, string]> = [
  ['run', '$0 -d /etc/superd/services.d', 'serve that directory, in the foreground'],
  ['run', '$0 run --watch --log-format json', 'also reload on changes; JSON logs'],
  ['run', '$0 run --metrics 127.0.0.1:9101', 'also serve Prometheus metrics at /metrics'],
  ['check', '$0 check', 'validate the services dir'],
  ['check', '$0 check ./git.conf', 'validate one service file'],
  ['reload', '$0 reload', 'reload, wait, print what changed'],
  ['reload', '$0 reload --pid-file /run/superd.pid', 'the same, by SIGHUP (the systemd unit)'],
  ['upgrade', '$0 upgrade', 'after installing a new version: re-exec it in place (same pid, sockets, handlers)'],
  ['status', '$0 status', 'services, figures, last errors'],
  ['status', '$0 status git --json', 'one service, as JSON'],
  ['convert', '$0 convert /etc/inetd.conf', 'inetd.conf -> service files on stdout'],
  ['convert', '$0 convert /etc/xinetd.d -o /etc/superd/services.d', 'one .conf per xinetd file'],
  ['unit', '$0 unit > /etc/systemd/system/superd.service', 'a systemd unit for this installation'],
  ['completion', '$0 completion >> ~/.bashrc', 'bash completion of commands and options'],
];

/**
 * A command's examples (or every other command's), each as a comment line
 * and the command line below it. Not yargs' two-column table: that breaks a
 * long command line over two lines, and the first alone fails when pasted.
 */
export function examples<T>(y: Argv<T>, which: { only: string } | { except: string }): Argv<T> {
  for (const [of, line, what] of EXAMPLES) {
    if ('only' in which ? of === which.only : of !== which.except) y.example(`# ${what}`, '').example(line, '');
  }
  return y;
}

/** `superd ` for `$0 `, the two spaces of indentation, and room for the terminal's cursor. */
const EXAMPLE_MARGIN = 4 + 'superd'.length - '$0'.length;

/**
 * The width help is wrapped at: the terminal's (or $COLUMNS where the output
 * is no terminal), at most 100, but never so narrow that an example line
 * would be broken: a terminal wraps a long line itself, and copying it gives
 * the line whole.
 */
export function helpWidth(): number {
  const fromEnv = Number(process.env.COLUMNS);
  const terminal = process.stdout.columns ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 100);
  const longest = Math.max(...EXAMPLES.flatMap(([, line, what]) => [line.length, what.length + 2]));
  return Math.max(Math.min(100, terminal), longest + EXAMPLE_MARGIN);
}
