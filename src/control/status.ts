// What the control socket answers: for `superd status` a snapshot of the
// daemon's services and figures, for `superd reload` what a reload found.
import { problemCount } from '../config/problems.js';
import { formatConfigError, type ConfigError } from '../errors.js';
import type { LastError } from '../service/types.js';

export interface ServiceStatus {
  name: string;
  address: string;
  /** Bound address, or null while a bind is being retried. */
  listening: string | null;
  mode: 'wait' | 'nowait';
  handler: string;
  running: number;
  queued: number;
  accepted: number;
  failed: number;
  refused: Record<string, number>;
  /** The service's last bind or spawn error, and when; null when it has had none. */
  lastError: LastError | null;
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  servicesDir: string;
  /** When the last reload ran (SIGHUP, --watch or `superd reload`) and its error count; null before the first. */
  lastReload: { time: string; errors: number } | null;
  services: ServiceStatus[];
}

export function formatStatusTable(status: DaemonStatus): string {
  const header = ['SERVICE', 'ADDRESS', 'MODE', 'RUNNING', 'QUEUED', 'ACCEPTED', 'REFUSED', 'FAILED', 'HANDLER'];
  const rows = status.services.map((s) => [
    s.name,
    s.listening === null ? `${s.address} (not bound)` : s.address,
    s.mode,
    String(s.running),
    String(s.queued),
    String(s.accepted),
    Object.entries(s.refused).map(([reason, n]) => `${reason}=${n}`).join(',') || '0',
    String(s.failed),
    s.handler,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const reload = status.lastReload === null ? 'no reload yet' : `last reload ${status.lastReload.time} with ${status.lastReload.errors} error(s)`;
  const errors = status.services
    .filter((s) => s.lastError !== null)
    .map((s) => `${s.name}: last ${s.lastError?.kind} error at ${s.lastError?.time}: ${s.lastError?.message}`);
  return [
    `superd pid ${status.pid}, up since ${status.startedAt}, services from ${status.servicesDir}, ${reload}`,
    line(header),
    ...rows.map(line),
    ...(errors.length > 0 ? ['', ...errors] : []),
  ].join('\n') + '\n';
}

/** One reload's outcome, as logged in its `reload` summary line, with its errors. */
export interface ReloadReport {
  pid: number;
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  errors: ConfigError[];
}

/** The summary line `superd reload` prints on stdout. */
export function formatReloadSummary(r: ReloadReport): string {
  // A file shows its first 20 errors and one 'and M more' line: count them all.
  const n = r.errors.reduce((sum, e) => sum + problemCount(e), 0);
  return `superd (pid ${r.pid}) reloaded: ${r.added} added, ${r.changed} changed, ${r.removed} removed, ${r.unchanged} unchanged, ${n} error${n === 1 ? '' : 's'}\n`;
}

/** Every error as `FILE:LINE: [service] message`, for stderr. */
export function formatReloadErrors(r: ReloadReport): string {
  return r.errors.map((e) => `${formatConfigError(e)}\n`).join('');
}

/** A shape check of what came over the socket, so a bad answer is an error, not a crash. */
export function isReloadReport(v: unknown): v is ReloadReport {
  const r = v as Partial<ReloadReport> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    [r.pid, r.added, r.changed, r.removed, r.unchanged].every((n) => typeof n === 'number') &&
    Array.isArray(r.errors) &&
    r.errors.every((e) => typeof e === 'object' && e !== null && typeof (e as ConfigError).file === 'string' && typeof (e as ConfigError).message === 'string')
  );
}

export function isDaemonStatus(v: unknown): v is DaemonStatus {
  const s = v as Partial<DaemonStatus> | null;
  return typeof s === 'object' && s !== null && typeof s.pid === 'number' && Array.isArray(s.services);
}

/** The answer to `upgrade`, which only the new image gives (src/upgrade/resume.ts). */
export interface UpgradeReport {
  upgraded: true;
  pid: number;
  /** The new image's version, and the one it replaced. */
  version: string;
  was: string;
}

export function isUpgradeReport(v: unknown): v is UpgradeReport {
  const r = v as Partial<UpgradeReport> | null;
  return typeof r === 'object' && r !== null && r.upgraded === true && typeof r.pid === 'number' && typeof r.version === 'string' && typeof r.was === 'string';
}

export function formatUpgrade(r: UpgradeReport): string {
  return `upgraded: pid ${r.pid}, superd ${r.version} (was ${r.was})\n`;
}
