// The version of the image running now, read from the package.json beside it
// (dist/src/upgrade/ → the package root): an upgrade says from which to which.
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function superdVersion(): string {
  if (version !== undefined) return version;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    version = 'unknown';
  }
  return version;
}
