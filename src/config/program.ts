// Whether a service's `server` can be started, looked at when its file is
// read: for `superd check`, the daemon and `superd convert`'s drafts alike.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { configError, type ConfigError } from '../errors.js';
import { clip } from './clip.js';
import type { FileResult, LoadedFile } from './file.js';
import { FileProblems } from './problems.js';
import type { ServiceDefinition } from './types.js';

/** Why `server` cannot be started (missing, not a regular file, not executable), or null. */
export async function checkProgram(program: string): Promise<string | null> {
  const shown = clip(program);
  try {
    const st = await stat(program);
    if (!st.isFile()) return `server '${shown}' is not a regular file`;
    await access(program, constants.X_OK);
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return `server '${shown}' does not exist`;
    if (err.code === 'EACCES') return `server '${shown}' is not executable: chmod +x ${program}`;
    // Node's message repeats the whole path: the code says enough.
    return `server '${shown}' cannot be checked: ${err.code ?? clip(err.message)}`;
  }
}

/**
 * A `server` that is missing or not executable is an error when the file is
 * read, for `check` and the daemon alike: a typo saved under --watch must not
 * replace a working service with one that fails every connection (the file
 * keeps what it served, SPEC §4). A program removed later is spawn_failed
 * per connection. Each program is looked at once per load.
 */
export class ProgramChecks {
  private readonly seen = new Map<string, Promise<string | null>>();

  async judge(loaded: LoadedFile): Promise<FileResult> {
    const { file, services, serverLines, warnings } = loaded;
    const bad: ConfigError[] = [];
    const good: ServiceDefinition[] = [];
    for (const def of services) {
      const problem = def.handler.kind === 'server' && !def.disabled ? await this.check(def.handler.program) : null;
      if (problem === null) good.push(def);
      else bad.push(configError('bad_program', file, serverLines.get(def) ?? def.origin.line, def.name, problem));
    }
    if (bad.length === 0) return { file, services, errors: loaded.errors, warnings };
    const errors = new FileProblems(file, 'error');
    [...loaded.errors, ...bad].forEach(errors.push);
    return { file, services: good, errors: errors.list(), warnings };
  }

  private check(program: string): Promise<string | null> {
    let found = this.seen.get(program);
    if (found === undefined) {
      found = checkProgram(program);
      this.seen.set(program, found);
    }
    return found;
  }
}
