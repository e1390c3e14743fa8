// The keys that say what serves a service (SPEC §2): exactly one of server
// (with args) and builtin; the keys about a handler process have no effect on
// a builtin, which runs inside superd.
import path from 'node:path';
import type { BuiltinName, Handler, Protocol } from './types.js';
import type { Reader } from './section-reader.js';
import type { Key } from './suggest.js';
import { parseEnum, parseProgram, parseWordList } from './values.js';

const BUILTINS: readonly BuiltinName[] = ['echo', 'discard', 'chargen', 'daytime', 'time'];
/** Keys about the handler process, meaningless when superd serves the service itself. */
const PROCESS_KEYS: readonly Key[] = ['args', 'user', 'group', 'env', 'pass_env', 'stderr',
  'nice', 'umask', 'rlimit_as', 'rlimit_cpu', 'rlimit_core', 'rlimit_data', 'rlimit_fsize', 'rlimit_nofile', 'rlimit_nproc', 'rlimit_stack', 'groups', 'no_new_privileges'];

export function readHandler(r: Reader, protocol: Protocol | null): Handler | null {
  if (r.has('server') && r.has('builtin')) {
    r.report('bad_combination', 'builtin', 'set exactly one of server and builtin, not both');
    return null;
  }
  if (r.has('server')) {
    const program = r.field<string | null>('server', null, parseProgram);
    const args = r.field<string[]>('args', [], (v) => parseWordList('args', v, () => null));
    return program === null ? null : { kind: 'server', program, argv: [path.basename(program), ...args] };
  }
  if (r.has('builtin')) {
    for (const k of PROCESS_KEYS) {
      if (r.has(k)) {
        r.report('bad_combination', k, `${k} has no effect with builtin: builtins run inside superd, no program is started`);
      }
    }
    if (protocol === 'unix') r.report('bad_combination', 'builtin', 'builtins are served over tcp and udp only');
    const name = r.field<BuiltinName | null>('builtin', null, (v) => parseEnum('builtin', v, BUILTINS));
    return name === null ? null : { kind: 'builtin', name };
  }
  r.report('missing_key', null, `set server = /absolute/path/of/program or builtin = ${BUILTINS.join('|')}`);
  return null;
}
