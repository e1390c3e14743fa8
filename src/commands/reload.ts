// `superd reload`: SIGHUP to the daemon whose pid is in --pid-file.
import { readFile } from 'node:fs/promises';
import type { CommonOptions } from '../cli.js';

export async function runReload(o: CommonOptions): Promise<number> {
  const fail = (message: string): number => {
    process.stderr.write(`superd reload: ${message}\n`);
    return 1;
  };
  if (o.pidFile === undefined) return fail('needs --pid-file FILE, the pid file the daemon was started with');
  let text: string;
  try {
    text = await readFile(o.pidFile, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fail(`cannot read pid file ${o.pidFile}: ${e.code === 'ENOENT' ? 'it does not exist (is superd running?)' : e.message}`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) return fail(`pid file ${o.pidFile} does not hold a process id: '${text.trim()}'`);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ESRCH') return fail(`no process ${pid} (from ${o.pidFile}): superd is not running`);
    return fail(`cannot signal process ${pid}: ${e.message}`);
  }
  process.stdout.write(`sent SIGHUP to superd (pid ${pid})\n`);
  return 0;
}
