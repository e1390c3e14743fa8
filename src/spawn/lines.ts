// Splits a handler's stderr into log lines, with a bound on line length so a
// handler that never writes a newline cannot make superd buffer without limit.
import type { Readable } from 'node:stream';

const MAX_LINE = 4096;

export class LineSplitter {
  private pending = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    let pending = this.pending + chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      let line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      for (; line.length > MAX_LINE; line = line.slice(MAX_LINE)) this.onLine(line.slice(0, MAX_LINE));
      this.onLine(line);
    }
    while (pending.length > MAX_LINE) {
      this.onLine(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
    this.pending = pending;
  }

  end(): void {
    if (this.pending !== '') this.onLine(this.pending);
    this.pending = '';
  }
}

export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  const lines = new LineSplitter(onLine);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => lines.push(chunk));
  stream.on('end', () => lines.end());
  stream.on('error', () => undefined);
}
