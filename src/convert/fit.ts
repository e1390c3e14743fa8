// Makes the drafts pass `superd check` on this host, as it is: names made
// unique, each section run through superd's own validator (users and groups
// from NSS, as `superd check` has them; port names from this host's files), a missing program or a listen
// address that another converted service already takes turns the service
// off, and a section the validator refuses is written as comments with its
// message. Validation is as root: the old daemon ran as root, and so will
// the superd that serves these files.

import { readFile } from 'node:fs/promises';
import { DPKG_STATUS, installedVersion } from './dpkg.js';
import { loadPortDb, loadUserDb, type PortDb, type UserDb } from '../config/systemdb.js';
import { usersNamedIn } from '../config/users.js';
import { listenConflict } from '../config/overlap.js';
import { scanIni } from '../config/scan.js';
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import { checkProgram } from '../config/program.js';
import { validateSection } from '../config/validate.js';
import { sectionLines } from './render.js';
import type { Draft } from './types.js';

export interface HostFiles {
  /** /etc/passwd and /etc/group: who owns what; and the users of validation when `users` is absent (tests). */
  passwd: UserDb;
  /** The users and groups the given service texts name, as NSS answers them (config/users.ts). */
  users?: (texts: readonly string[]) => Promise<UserDb>;
  ports: PortDb;
  /** Whether `program` can be started here: null, or the problem. */
  checkProgram: (program: string) => Promise<string | null>;
  /**
   * The version of Debian's openbsd-inetd installed here (dpkg's
   * `Status: … installed`), or null: since 0.20221205 it listens on IPv4 and
   * IPv6 for an inetd.conf `tcp` or `udp`, which every other inetd takes as
   * IPv4 only. Absent is the same as null.
   */
  openbsdInetd?: string | null;
}

export async function loadHostFiles(dpkgStatus = DPKG_STATUS): Promise<HostFiles> {
  const [passwd, ports, status] = await Promise.all([loadUserDb(), loadPortDb(), readFile(dpkgStatus, 'utf8').catch(() => '')]);
  return { passwd, users: (texts) => usersNamedIn(texts, 0), ports, checkProgram, openbsdInetd: installedVersion(status, 'openbsd-inetd') };
}

/**
 * Gives each draft a name no earlier draft and no `existing` service has:
 * NAME, NAME-SUFFIX (`echo-udp`), NAME-2…
 */
function assignNames(drafts: readonly Draft[], existing: readonly ServiceDefinition[] = []): void {
  // name -> where it is taken, for the comment that explains a rename.
  const taken = new Map<string, string>(existing.map((e) => [e.name, `${e.origin.file}:${e.origin.line}`]));
  for (const d of drafts) {
    const wanted = d.name;
    const candidates = [wanted];
    if (d.altSuffix !== null && d.altSuffix !== '') candidates.push(`${wanted}-${d.altSuffix}`.slice(0, 64));
    for (let i = 2; candidates.length < 1000; i++) candidates.push(`${wanted.slice(0, 60)}-${i}`);
    const name = candidates.find((c) => !taken.has(c)) as string;
    if (name !== wanted) d.intro.push(`# named ${name}: ${wanted} is taken by the service from ${taken.get(wanted) ?? '?'}`);
    d.name = name;
    taken.set(name, `${d.file}:${d.line}`);
  }
}

/**
 * `existing`: the services already in the directory the output goes to,
 * whose names and listen addresses the converted ones must not take.
 */
export async function fitToHost(drafts: readonly Draft[], host: HostFiles, existing: readonly ServiceDefinition[] = []): Promise<void> {
  assignNames(drafts, existing);
  const passwd = host.users === undefined ? host.passwd : await host.users(drafts.map((d) => sectionLines(d).join('\n')));
  const ctx = { passwd, ports: host.ports, selfUid: 0, selfGid: 0 };
  // Who listens where, and where that service comes from.
  const listening = existing.filter((e) => !e.disabled).map((def) => ({ def, from: `${def.origin.file}:${def.origin.line}` }));
  for (const d of drafts) {
    if (d.unservable !== null) continue;
    const { sections } = scanIni('converted', sectionLines(d).join('\n'));
    const section = sections[0];
    if (section === undefined) continue;
    const result = validateSection('converted', section, ctx);
    if (result.definition === null || result.errors.length > 0) {
      d.unservable = `superd check would refuse it here: ${result.errors.map((e) => e.message).join('; ')}`;
      continue;
    }
    const def = result.definition;
    if (d.disabled.length > 0) continue;
    if (def.handler.kind === 'server') {
      const problem = await host.checkProgram(def.handler.program);
      if (problem !== null) {
        d.disabled.push(`${problem} on this host: install it, then enable the service`);
        continue;
      }
    }
    const clash = listening.find((other) => listenConflict(other.def, def));
    if (clash !== undefined) {
      d.disabled.push(`its listen address ${describeAddress(def)} is taken by [${clash.def.name}] (${describeAddress(clash.def)}) from ${clash.from}`);
      continue;
    }
    listening.push({ def, from: `${d.file}:${d.line}` });
  }
}
