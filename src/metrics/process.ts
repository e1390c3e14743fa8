// The usual process_* figures of Prometheus's clients (CPU, memory,
// descriptors, start time), read from /proc and Node only when scraped.
// Not prom-client's collectDefaultMetrics: its event loop lag monitor is a
// timer every 10 ms, which would wake an idle superd a hundred times a second.
import { readdirSync, readFileSync } from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';

/** Descriptors open now (less the one readdir holds), or NaN when /proc cannot say. */
function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return NaN;
  }
}

/** The soft RLIMIT_NOFILE, or NaN. */
function maxFds(): number {
  try {
    return Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const startedAt = Date.now() / 1000 - process.uptime();
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'CPU time superd used (user and system), in seconds.',
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  };
  gauge('process_resident_memory_bytes', "superd's resident memory, in bytes.", () => process.memoryUsage.rss());
  gauge('process_open_fds', 'File descriptors superd has open.', openFds);
  gauge('process_max_fds', "superd's limit of open file descriptors (RLIMIT_NOFILE).", maxFds);
  gauge('process_start_time_seconds', 'When superd started, in seconds since the epoch.', () => startedAt);
}
