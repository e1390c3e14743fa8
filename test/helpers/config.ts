// What the config layer's tests hand it, written once: a service definition
// with every default of SPEC §2, and the system databases (users, groups,
// /etc/services) a validation sees, from compact tables. The defaults are
// the SPEC's, listed here by hand: never computed the way src/ does.
import type { ServiceDefinition } from '../../src/config/types.js';
import { parseServices } from '../../src/config/systemdb.js';
import type { ValidateContext } from '../../src/config/validate.js';

/** A tcp service with every key SPEC §2 gives a default at that default; the rest as given. */
export function definition(d: Pick<ServiceDefinition, 'name' | 'origin' | 'port' | 'handler'> & Partial<ServiceDefinition>): ServiceDefinition {
  return {
    protocol: 'tcp',
    bind: null,
    path: null,
    socketMode: 0o666,
    wait: false,
    credentials: null,
    maxChildren: 256,
    queue: 128,
    maxPerSource: null,
    rate: null,
    ratePerSource: null,
    onlyFrom: null,
    noAccess: [],
    env: [],
    passEnv: [],
    timeout: null,
    stderr: 'log',
    disabled: false, proxy: null,
    ...d,
  };
}

/** The databases a validation run by root sees: users as [name, uid, gid], groups as [name, gid], `services` as /etc/services text. */
export function systemDatabases(users: [string, number, number][], groups: [string, number][], services: string): ValidateContext {
  return {
    passwd: { users: users.map(([name, uid, gid]) => ({ name, uid, gid })), groups: groups.map(([name, gid]) => ({ name, gid })) },
    ports: parseServices(services),
    selfUid: 0,
    selfGid: 0,
  };
}
