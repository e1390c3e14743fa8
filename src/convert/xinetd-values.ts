// xinetd 2.3.15's value parsers (parsers.c), as verdicts: the message xinetd
// logs before "Error parsing attribute NAME - DISABLING SERVICE", or null
// when it takes the value. Names and keywords compare case-insensitively,
// as xinetd compares them. xinetd-resolve.ts applies them line by line.

import { convertAddresses } from './access.js';
import type { XAttr } from './xinetd.js';

const SOCKET_TYPES = ['stream', 'dgram', 'raw', 'seqpacket'];
const TYPES = ['RPC', 'INTERNAL', 'UNLISTED', 'SPECIAL', 'TCPMUX', 'TCPMUXPLUS'];
/** xinetd 2.3.15's flags: there is no DISABLE flag (`disable = yes` is the attribute). */
export const FLAGS = ['REUSE', 'INTERCEPT', 'NORETRY', 'IDONLY', 'NAMEINARGS', 'NODELAY', 'KEEPALIVE', 'NOLIBWRAP', 'SENSOR', 'IPv4', 'IPv6', 'LABELED'];
const SUCCESS_LOG = ['HOST', 'DURATION', 'EXIT', 'PID', 'USERID', 'TRAFFIC'];
const FAILURE_LOG = ['HOST', 'ATTEMPT', 'USERID'];
const FACILITIES = ['daemon', 'auth', 'authpriv', 'user', 'mail', 'lpr', 'news', 'uucp', 'ftp', ...Array.from({ length: 8 }, (_, i) => `local${i}`)];
const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

const among = (word: string, list: readonly string[]): boolean => list.some((w) => w.toLowerCase() === word.toLowerCase());
const isCount = (v: string): boolean => v.toUpperCase() === 'UNLIMITED' || /^\d+$/.test(v);
const isLimit = (v: string): boolean => v.toUpperCase() === 'UNLIMITED' || /^\d+[kKmM]?$/.test(v);
const firstBad = (values: readonly string[], list: readonly string[]): string | undefined => values.find((v) => !among(v, list));

function yesNo(name: string, label = `Bad value for ${name}`): (v: string[]) => string | null {
  return ([v = '']) => (among(v, ['yes', 'no']) ? null : `${label}: ${v}`);
}

function timeInterval(v: string): boolean {
  const m = /^(\d{1,2}):(\d{1,2})-(\d{1,2}):(\d{1,2})$/.exec(v);
  if (m === null) return false;
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number];
  return h1 <= 23 && h2 <= 23 && m1 <= 59 && m2 <= 59 && h1 * 60 + m1 < h2 * 60 + m2;
}

function logType(values: string[]): string | null {
  const [kind = '', a, b, c] = values;
  if (among(kind, ['SYSLOG'])) {
    if (values.length < 2 || values.length > 3) return 'wrong number of arguments';
    if (!among(a ?? '', FACILITIES)) return `Unknown syslog facility: ${a ?? ''}`;
    if (b !== undefined && !among(b, LEVELS)) return `Unknown syslog level: ${b}`;
    return null;
  }
  if (among(kind, ['FILE'])) {
    if (values.length < 2 || values.length > 4) return 'wrong number of arguments';
    if (b !== undefined && !/^\d+[kKmM]?$/.test(b)) return 'soft limit is invalid';
    if (c !== undefined && !/^\d+[kKmM]?$/.test(c)) return 'hard limit is invalid';
    return null;
  }
  return `Unknown log type: ${kind}`;
}

function addresses(values: string[]): string | null {
  for (const v of values) {
    // A factorized address (10.1.{2,3}) has its commas inside braces.
    if (v.includes(',') && !v.includes('{')) return `Address: ${v} has a comma in it - remove the comma`;
    if (v.includes('{') && convertAddresses([v]).blocks.length === 0) return `Bad address: ${v}`;
  }
  return null;
}

const PARSERS: ReadonlyMap<string, (values: string[], op: XAttr['op']) => string | null> = new Map([
  ['socket_type', ([v = '']) => (among(v, SOCKET_TYPES) ? null : `Bad socket type: ${v}`)],
  ['wait', yesNo('wait')],
  ['disable', yesNo('disable', 'Bad value')],
  ['groups', yesNo('groups')],
  ['v6only', yesNo('v6only')],
  ['mdns', yesNo('mdns')],
  ['server_args', (v) => (v.length === 0 ? 'server_args has no value' : null)],
  ['instances', ([v = '']) => (isCount(v) ? null : `Number of instances is invalid: ${v}`)],
  ['per_source', ([v = '']) => (isCount(v) ? null : `Number of per source instances is invalid: ${v}`)],
  ['cps', ([n = '', wait = '']) => (!/^\d+$/.test(n) ? 'cps argument not a number' : !/^\d+$/.test(wait) ? 'cps time argument not a number' : null)],
  ['port', ([v = '']) => (/^\d+$/.test(v) && Number(v) < 65536 ? null : 'port number is invalid')],
  ['type', (v) => (v.length === 0 ? 'type has no value' : firstBad(v, TYPES) === undefined ? null : `Bad service type: ${firstBad(v, TYPES) ?? ''}`)],
  ['flags', (v) => (v.length === 0 ? 'flags has no value' : firstBad(v, FLAGS) === undefined ? null : `Bad service flag: ${firstBad(v, FLAGS) ?? ''}`)],
  ['log_on_success', (v) => (firstBad(v, SUCCESS_LOG) === undefined ? null : `Bad log_on_success flag: ${firstBad(v, SUCCESS_LOG) ?? ''}`)],
  ['log_on_failure', (v) => (firstBad(v, FAILURE_LOG) === undefined ? null : `Bad log_on_failure flag: ${firstBad(v, FAILURE_LOG) ?? ''}`)],
  ['log_type', logType],
  ['only_from', addresses],
  ['no_access', addresses],
  ['env', (v, op) => (op === '-=' ? "operator '-=' not supported for env attribute" : v.some((w) => !w.includes('=')) ? `${v.find((w) => !w.includes('=')) ?? ''} has no '='` : null)],
  ['access_times', (v) => (v.length === 0 ? 'access_times has no value' : v.every(timeInterval) ? null : 'incorrect time interval')],
  ['nice', ([v = '']) => (/^[+-]?\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  ['umask', ([v = '']) => (/^[0-7]+$/.test(v) && parseInt(v, 8) <= 0o777 ? null : 'umask argument is invalid.')],
  ['deny_time', ([v = '']) => (among(v, ['FOREVER', 'NEVER']) || /^[+-]?\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  ['max_load', ([v = '']) => (/^[+-]?(\d+\.?\d*|\.\d+)/.test(v) && Number.parseFloat(v) !== 0 ? null : 'error reading max_load argument')],
  ['rlimit_as', ([v = '']) => (isLimit(v) ? null : `Address space limit is invalid: ${v}`)],
  ['rlimit_files', ([v = '']) => (isCount(v) ? null : `Files limit is invalid: ${v}`)],
  ['rlimit_cpu', ([v = '']) => (isCount(v) ? null : `CPU limit is invalid: ${v}`)],
  ['rlimit_data', ([v = '']) => (isLimit(v) ? null : `Data limit is invalid: ${v}`)],
  ['rlimit_rss', ([v = '']) => (isLimit(v) ? null : `RSS limit is invalid: ${v}`)],
  ['rlimit_stack', ([v = '']) => (isLimit(v) ? null : `Stack limit is invalid: ${v}`)],
  ['rpc_number', ([v = '']) => (/^\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  // A port that is no number is looked up as a tcp service name, on xinetd's host.
  ['redirect', ([, port = '']) => (!/^\d+$/.test(port) || (Number(port) > 0 && Number(port) < 65536) ? null : 'port number invalid')],
]);

/** xinetd's message for a value it refuses, or null. */
export function refusal(a: XAttr): string | null {
  return PARSERS.get(a.name)?.(a.values, a.op) ?? null;
}
