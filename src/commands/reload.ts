// `superd reload` (SPEC §1): asks the running daemon to reload, waits for it
// to finish and prints its summary (stdout) and every error as
// `FILE:LINE: [service] message` (stderr); exit 0 only when it had none.
//   without --pid-file: the `reload` request on the control socket;
//   with --pid-file: SIGHUP to that pid once it is checked to be a superd we
//   may signal, its outcome read from that daemon's own control socket (found
//   from the daemon, control/find.ts; asked for before the signal, so that
//   reload cannot be missed). When its outcome cannot be had, the signal is
//   sent all the same and the exit is 1: under systemd's ExecReload that makes
//   `systemctl reload` say it is unconfirmed rather than claim a success
//   nobody saw (the daemon's log has the summary).
import { readFile } from 'node:fs/promises';
import type { CommonOptions } from '../cli.js';
import { awaitReload, requestReload } from '../control/client.js';
import { findControlSocket, superdArguments } from '../control/find.js';
import { currentUid } from '../control/path.js';
import { formatReloadErrors, formatReloadSummary, type ReloadReport } from '../control/status.js';
import { fail, ok, type Result } from '../errors.js';

function say(message: string): number {
  process.stderr.write(`superd reload: ${message}\n`);
  return 1;
}

function report(r: ReloadReport): number {
  process.stdout.write(formatReloadSummary(r));
  process.stderr.write(formatReloadErrors(r));
  return r.errors.length > 0 ? 1 : 0;
}

async function readPid(pidFile: string): Promise<Result<number>> {
  let text: string;
  try {
    text = await readFile(pidFile, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fail({ code: 'pid_file', message: `cannot read pid file ${pidFile}: ${e.code === 'ENOENT' ? 'it does not exist (is superd running?)' : e.message}` });
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) return fail({ code: 'pid_file', message: `pid file ${pidFile} does not hold a process id: '${text.trim().slice(0, 40)}'` });
  return ok(pid);
}

/**
 * Is `pid` a superd that we may signal? Its command line must run superd's
 * entry (bin/superd, or dist/src/cli.js) under node, and its real uid must be
 * ours unless we are root: a stale pid file may name any process by now.
 */
export async function checkSuperd(pid: number, pidFile: string): Promise<Result<number>> {
  let cmdline: string;
  let status: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return fail({ code: 'no_daemon', message: `no process ${pid} (from ${pidFile}): superd is not running` });
  }
  const argv = cmdline.split('\0').filter((a) => a !== '');
  if (superdArguments(argv) === null) {
    return fail({ code: 'not_superd', message: `process ${pid} (from ${pidFile}) is not superd but '${argv.join(' ').slice(0, 120)}': the pid file is stale; not signalled` });
  }
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  if (uid !== currentUid() && currentUid() !== 0) {
    return fail({ code: 'not_ours', message: `superd pid ${pid} (from ${pidFile}) runs as uid ${uid}, not as you (uid ${currentUid()}): only its user or root may reload it; not signalled` });
  }
  return ok(pid);
}

export async function runReload(o: CommonOptions): Promise<number> {
  if (o.pidFile === undefined) {
    const r = await requestReload(o.controlSocket);
    return r.ok ? report(r.value) : say(`${r.error.message}; with --pid-file FILE it signals the daemon instead`);
  }
  const read = await readPid(o.pidFile);
  if (!read.ok) return say(read.error.message);
  const checked = await checkSuperd(read.value, o.pidFile);
  if (!checked.ok) return say(checked.error.message);
  const pid = checked.value;

  // Its own control socket, whatever --control-socket says here.
  const socket = await findControlSocket(pid);
  const waiting = socket.ok ? await awaitReload(socket.value) : null;
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    if (waiting?.ok === true) waiting.value.cancel();
    const e = err as NodeJS.ErrnoException;
    return say(e.code === 'ESRCH' ? `no process ${pid} (from ${o.pidFile}): superd is not running` : `cannot signal process ${pid}: ${e.message}`);
  }
  const unknown = (why: string): number => say(`sent SIGHUP to superd (pid ${pid}), but cannot report its outcome: ${why}; the reload runs all the same, its summary is the 'reload' line in the daemon's log`);
  if (!socket.ok) return unknown(socket.error);
  if (waiting === null || !waiting.ok) return unknown(waiting?.error.message ?? 'no control socket');
  if (waiting.value.pid !== pid) {
    waiting.value.cancel();
    return unknown(`${socket.value} is answered by superd pid ${waiting.value.pid}, not ${pid}`);
  }
  const r = await waiting.value.report();
  return r.ok ? report(r.value) : unknown(r.error.message);
}
