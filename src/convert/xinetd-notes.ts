// The xinetd attributes and flags superd has no equivalent for, and why.
// Each becomes a `# xinetd: … — superd has no equivalent: WHY` comment.
// Those whose loss would let in more than xinetd did (access_times, IDONLY)
// also disable the service: map-xinetd.ts decides that. Which flags and
// types xinetd knows at all is xinetd-resolve.ts's concern.

export const ATTRIBUTE_WHY: ReadonlyMap<string, string> = new Map([
  ['log_type', 'superd writes one log of its own (--log-file, --log-format), not one per service'],
  ['log_on_success', 'superd logs every handler it starts (accepted: remote address, pid) and every exit (status, duration) anyway'],
  ['log_on_failure', 'superd logs every refused connection (refused: remote address, reason) anyway'],
  ['banner', 'superd sends nothing of its own to a client: have the server print it'],
  ['banner_success', 'superd sends nothing of its own to a client: have the server print it'],
  ['banner_fail', 'superd closes a refused connection without a word'],
  ['max_load', 'superd does not look at the load average'],
  ['deny_time', 'superd has no SENSOR services, so there is nobody to deny'],
  ['mdns', 'superd registers nothing with mDNS'],
  ['access_times', 'superd serves at all hours'],
  ['rpc_version', 'superd does not register RPC services with the portmapper'],
  ['rpc_number', 'superd does not register RPC services with the portmapper'],
]);

/** Attributes that only concern the program a builtin does not start. */
export const PROCESS_ATTRS = new Set(['user', 'group', 'server', 'server_args', 'env', 'passenv', 'nice', 'umask', 'groups',
  'rlimit_as', 'rlimit_files', 'rlimit_cpu', 'rlimit_data', 'rlimit_rss', 'rlimit_stack']);

export const FLAG_WHY: ReadonlyMap<string, string> = new Map([
  ['NODELAY', 'superd sets no options on accepted sockets; the server can set TCP_NODELAY itself'],
  ['KEEPALIVE', 'superd sets no options on accepted sockets; the server can set SO_KEEPALIVE itself'],
  ['NORETRY', 'superd never retries a handler that cannot start: it logs spawn_failed and closes the connection'],
  ['INTERCEPT', 'superd checks only_from and no_access once, when a connection arrives'],
  ['LABELED', 'superd does not change SELinux contexts'],
  ['IDONLY', 'superd does not ask the client\'s ident server (RFC 1413) who the user is'],
]);

/** Flags and types whose effect superd has anyway: a comment says so. */
export const FLAGS_SAME: ReadonlyMap<string, string> = new Map([
  ['REUSE', 'superd sets SO_REUSEADDR on every listener'],
  ['NOLIBWRAP', 'superd reads no hosts.allow or hosts.deny itself, and none of their rules are applied to this service'],
]);

export const TYPES_SAME: ReadonlyMap<string, string> = new Map([
  ['UNLISTED', 'superd needs no /etc/services entry for a numeric port'],
]);
