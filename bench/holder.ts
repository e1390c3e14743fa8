// The held scenario's holder: `loadgen -H HELD` keeps HELD echoing connections open.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { runningLoadgens } from './children.js';
import type { HolderEvent } from './loadgen.js';
import { CONN_TIMEOUT, HELD, HOLD_CONNECTING, HOLD_SETUP_MAX, HOLDER_LIFETIME } from './options.js';
import { LOADGEN } from './paths.js';

export interface Holder {
  child: ChildProcess;
  /** its `held` event: all HELD connections settled (echoed and kept open, or failed) */
  held(): Promise<HolderEvent>;
  /** SIGTERM (it closes every connection), SIGKILL after 10 s; its `released` event */
  release(): Promise<HolderEvent | null>;
}

/** Calls onLine with each line of the holder's stdout: parsed as JSON, or the raw text when not. */
function readEvents(child: ChildProcess, onLine: (e: HolderEvent | string) => void): void {
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += String(b);
    for (let i; (i = out.indexOf('\n')) >= 0; ) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      try { onLine(JSON.parse(line) as HolderEvent); } catch { onLine(line); }
    }
  });
}

/**
 * Starts the holder on holdPort. Killed by the signal/exit handlers like any loadgen; bounded by
 * its own -t (HOLDER_LIFETIME), by PR_SET_PDEATHSIG, and by a SIGKILL timer 20 s after that.
 * held() rejects after HOLD_SETUP_MAX s.
 */
export function startHolder(holdPort: number): Holder {
  const args = ['-H', String(HELD), '-h', '127.0.0.1', '-p', String(holdPort), '-c', String(HOLD_CONNECTING),
    '-t', String(HOLDER_LIFETIME), '-T', String(CONN_TIMEOUT), '-q', '-J'];
  const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  runningLoadgens.add(child);
  const events: HolderEvent[] = [];
  let err = '';
  const waiters: (() => void)[] = [];
  const wake = (): void => { for (const w of waiters.splice(0)) w(); };
  const killer = setTimeout(() => { try { child.kill('SIGKILL'); } catch {} }, (HOLDER_LIFETIME + 20) * 1000);
  const exited = new Promise<void>((res) => child.on('exit', () => {
    runningLoadgens.delete(child);
    clearTimeout(killer);
    res();
    wake();
  }));
  child.on('error', (e) => { err += String(e); });
  child.stderr?.on('data', (b: Buffer) => { err += String(b); });
  readEvents(child, (e) => {
    if (typeof e === 'string') err += `unparsed: ${e}\n`;
    else events.push(e);
    wake();
  });
  const waitEvent = async (name: string, ms: number): Promise<HolderEvent> => {
    const t0 = Date.now();
    for (;;) {
      const e = events.find((x) => x.event === name);
      if (e) return e;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`holder exited (${child.exitCode ?? child.signalCode}) before '${name}': ${err.trim().slice(0, 300)}`);
      }
      if (Date.now() - t0 >= ms) throw new Error(`holder: no '${name}' within ${Math.round(ms / 1000)} s`);
      await Promise.race([new Promise<void>((res) => waiters.push(res)), sleep(Math.min(1000, ms))]);
    }
  };
  return {
    child,
    held: () => waitEvent('held', HOLD_SETUP_MAX * 1000),
    async release() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(10000).then(() => null)]);
      if (done === null) {
        child.kill('SIGKILL');
        await exited;
      }
      return events.find((x) => x.event === 'released') ?? null;
    },
  };
}
