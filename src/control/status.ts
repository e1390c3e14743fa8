// What `superd status` shows: a snapshot of the daemon's services and figures.

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
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  servicesDir: string;
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
  return [`superd pid ${status.pid}, up since ${status.startedAt}, services from ${status.servicesDir}`, line(header), ...rows.map(line)].join('\n') + '\n';
}
