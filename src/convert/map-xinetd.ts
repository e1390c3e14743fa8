// One xinetd service -> one draft section, as xinetd would have served it
// (xinetd-resolve.ts reads its lines as xinetd does). Settings superd can
// express are written as keys; those it cannot are comments that say why;
// a service xinetd did not start, or whose loss of a setting would let in
// more than xinetd did, is disabled with the reason; one superd cannot
// serve at all (RPC, TCPMUX, redirect…), or that xinetd could not even
// read, is written as a commented-out section. Nothing here stops the
// conversion: a problem in one service leaves the others as they are.

import { isIP } from 'node:net';
import type { BuiltinName } from '../config/types.js';
import { fail, ok, type Result } from '../errors.js';
import { strictlyInside, convertAddresses } from './access.js';
import { builtinFor, BUILTINS, mapLimits, mappedAs, mapProgram, noEquivalent, sanitizeName, type MapContext } from './map-common.js';
import { quoteWords } from './quote.js';
import { cannotServe, newDraft, setKey, type ConvertError, type Draft } from './types.js';
import type { XAttr, XBlock } from './xinetd.js';
import { defaultLists, resolve, setting, type Resolved, type XDefaults } from './xinetd-resolve.js';
import { ATTRIBUTE_WHY, FLAG_WHY, FLAGS_SAME, PROCESS_ATTRS, TYPES_SAME } from './xinetd-notes.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The first word of a value xinetd took (xinetd-resolve.ts checked the count and the value). */
const first = (a: XAttr): string => a.values[0] ?? '';
const isYes = (a: XAttr | undefined): boolean => a !== undefined && first(a).toLowerCase() === 'yes';
/** A count xinetd took, or null for UNLIMITED. */
const count = (a: XAttr): number | null => (first(a).toUpperCase() === 'UNLIMITED' ? null : Number(first(a)));

export function mapXinetdService(b: XBlock, defaults: XDefaults | null, ctx: MapContext): Result<Draft, ConvertError> {
  return ok(build(b, resolve(b, defaults), defaults, ctx));
}

type Get = (name: string) => XAttr | undefined;

/** How xinetd said it would not start the service: the value it refused for `name`, else `says`. */
type Missing = (name: string, says: string) => string;

const refusedAs = (x: { attr: XAttr; why: string }): string => `xinetd did not start it: ${x.why} (line ${x.attr.line}: ${setting(x.attr)})`;

function build(b: XBlock, r: Resolved, defaults: XDefaults | null, ctx: MapContext): Draft {
  const get: Get = (name) => r.single.get(name);
  const fromDefaults = (name: string): string[] => (r.fromDefaults.has(name) && defaults !== null ? [`# from the xinetd defaults at ${defaults.where}`] : []);
  const id = get('id') === undefined ? b.name : first(get('id') as XAttr);
  const d = newDraft(b.file, b.line, `service ${b.name}${id === b.name ? '' : ` (id ${id})`}`, sanitizeName(id), b.comments);
  if (r.skipped !== null) cannotServe(d, r.skipped);
  d.notes.push(...r.ignored);
  d.disabled.push(...r.widen, ...r.refused.map(refusedAs));
  const missing: Missing = (name, says) => {
    const x = r.refused.find((f) => (f.attr.name === 'interface' ? 'bind' : f.attr.name) === name);
    return x !== undefined ? refusedAs(x) : `xinetd did not start it: ${says}`;
  };

  const types = new Set((get('type')?.values ?? []).map((t) => t.toUpperCase()));
  const flags = new Set((get('flags')?.values ?? []).map((f) => f.toUpperCase()));
  const { transport, wait } = mapSocket(d, b, r, { types, flags, fromDefaults, ctx, missing });
  const builtin = types.has('INTERNAL') ? builtinFor(b.name, id) : null;
  mapHandler(d, b, r, { types, flags, transport, wait, builtin, missing });
  if (!flags.has('NOLIBWRAP')) for (const name of libwrapName(b, r, types)) if (!d.wrappedAs.includes(name)) d.wrappedAs.push(name);
  mapLimitsAndAccess(d, r, { transport, waitProgram: builtin === null && wait === true, fromDefaults });
  if (builtin === null) mapEnvironment(d, r, fromDefaults);
  mapDisabled(d, r, id, defaults);
  mapNotes(d, r, flags, types, builtin !== null);
  // A reason that is already the one the section is not converted for is said once.
  if (d.unservable !== null) d.disabled = d.disabled.filter((x) => x !== d.unservable);
  return d;
}

interface SocketContext {
  types: Set<string>;
  flags: Set<string>;
  fromDefaults: (name: string) => string[];
  ctx: MapContext;
  missing: Missing;
}

/** protocol, port and bind; the transport and wait, which the rest depends on. */
function mapSocket(d: Draft, b: XBlock, r: Resolved, s: SocketContext): { transport: 'tcp' | 'udp'; wait: boolean | null } {
  const get: Get = (name) => r.single.get(name);
  const protocolAttr = get('protocol');
  const protocol = protocolAttr === undefined ? null : first(protocolAttr).toLowerCase();
  // xinetd takes either from the other: tcp is stream, udp is dgram.
  const socketType = get('socket_type');
  const st = socketType !== undefined ? first(socketType).toLowerCase() : protocol === 'tcp' ? 'stream' : protocol === 'udp' ? 'dgram' : null;
  if (st === null) cannotServe(d, s.missing('socket_type', `Service ${b.name} missing attribute socket_type`));
  const transport = st === 'stream' ? 'tcp' : st === 'dgram' ? 'udp' : null;
  if (transport === null && st !== null) cannotServe(d, `socket_type = ${st}: superd serves stream (tcp) and dgram (udp) sockets only`);
  if (protocol !== null && transport !== null && protocol !== transport) {
    cannotServe(d, protocol === 'tcp' || protocol === 'udp'
      ? `protocol = ${protocol} does not go with socket_type = ${st ?? '?'}`
      : `protocol = ${protocol}: superd serves tcp and udp only`);
  }
  const waitAttr = get('wait');
  if (waitAttr === undefined) cannotServe(d, s.missing('wait', `Service ${b.name} missing attribute wait`));
  const wait = waitAttr === undefined ? null : isYes(waitAttr);

  // IPv4 unless flags has IPv6 (then on both, or IPv6 only with v6only); a bind address decides alone.
  const bindAttr = get('bind');
  const bind = bindAttr === undefined ? null : first(bindAttr);
  const family = bind !== null && isIP(bind) !== 0 ? String(isIP(bind)) : s.flags.has('IPV6') ? (isYes(get('v6only')) ? '6' : '') : '4';
  const t = transport ?? 'tcp';
  // Without IPv4, IPv6 or an address, xinetd 2.3.15.3 (Debian 12's) listens on [::], both families; other builds on IPv4 only.
  const unsaid = family === '4' && bind === null && !s.flags.has('IPV4');
  setKey(d, 'protocol', `${t}${family}`, ...(unsaid
    ? [mappedAs('xinetd', 'no flags = IPv4 or IPv6, no bind',
      `xinetd 2.3.15.3 (Debian 12's) listened on IPv6 too, older builds on IPv4 only: written ${t}4, the narrower; protocol = ${t} serves IPv6 clients as well`)]
    : []));

  const portAttr = get('port');
  const rpc = s.types.has('RPC');
  const unlisted = s.types.has('UNLISTED');
  if (portAttr !== undefined) {
    const p = Number(first(portAttr));
    if (p === 0) cannotServe(d, 'port = 0: xinetd listened on a port the kernel chose; superd listens on the port it is given');
    else setKey(d, 'port', String(p));
  } else if (unlisted && !rpc) {
    cannotServe(d, s.missing('port', `Unlisted service: ${b.name} must have a port entry`));
  } else if (!rpc) {
    // xinetd looks the service name up in /etc/services; superd's port takes that name.
    setKey(d, 'port', b.name);
  }
  // A type xinetd refused: the service is disabled for that, whatever the type would have asked of /etc/services.
  const typeRefused = r.refused.some((x) => x.attr.name === 'type');
  if (!rpc && !unlisted && !typeRefused && !s.types.has('TCPMUX') && !s.types.has('TCPMUXPLUS')) {
    mapListed(d, b, s.ctx, protocolAttr === undefined ? t : first(protocolAttr), portAttr);
  }
  if (bind !== null && bindAttr !== undefined) {
    if (isIP(bind) !== 0) setKey(d, 'bind', bind, ...s.fromDefaults('bind'));
    else {
      d.notes.push(noEquivalent('xinetd', setting(bindAttr), 'bind takes an address, not a host name'));
      d.disabled.push(`bind = ${bind} is a host name: without a bind the service would listen on every address`);
    }
  }
  return { transport: t, wait };
}

/**
 * xinetd starts a service whose type has no UNLISTED only when this host's
 * /etc/services names it (for its protocol), and only on that port.
 */
function mapListed(d: Draft, b: XBlock, ctx: MapContext, protocol: string, portAttr: XAttr | undefined): void {
  const listed = ctx.host.ports.get(`${b.name}/${protocol}`);
  const unlisted = 'xinetd looks a service up there by its name unless its type has UNLISTED';
  if (listed === undefined && portAttr === undefined) {
    cannotServe(d, `xinetd did not start it: Port not specified and can't find service: ${b.name} with getservbyname (not in /etc/services for ${protocol}; ${unlisted})`);
    return;
  }
  if (listed === undefined) {
    d.disabled.push(`xinetd did not start it: service/protocol combination not in /etc/services: ${b.name}/${protocol} (${unlisted})`);
    return;
  }
  const port = portAttr === undefined ? listed : Number(first(portAttr));
  if (port !== listed) {
    d.disabled.push(`xinetd did not start it: Service ${b.name} expects port ${listed}, not ${port} (the port /etc/services gives ${b.name}; with type = UNLISTED a service may take another)`);
  }
}

interface Kind {
  types: Set<string>;
  flags: Set<string>;
  transport: 'tcp' | 'udp';
  /** null: not known (xinetd did not start the service). */
  wait: boolean | null;
  builtin: BuiltinName | null;
  missing: Missing;
}

/** builtin, or server, args, wait, user and group; or why there is no handler superd can run. */
function mapHandler(d: Draft, b: XBlock, r: Resolved, k: Kind): void {
  const get: Get = (name) => r.single.get(name);
  if (k.types.has('RPC')) cannotServe(d, 'type = RPC: superd does not register services with the portmapper (rpcbind)');
  if (k.types.has('TCPMUX') || k.types.has('TCPMUXPLUS')) cannotServe(d, 'type = TCPMUX: superd does not serve the tcpmux port (RFC 1078) that such services are reached through');
  if (k.types.has('SPECIAL')) cannotServe(d, "type = SPECIAL: xinetd's own services, which superd does not have");
  if (k.flags.has('SENSOR')) cannotServe(d, 'flags = SENSOR: superd has no sensors that ban the hosts that connect');
  const server = get('server');
  const redirect = get('redirect');
  const args = get('server_args');
  const nameInArgs = k.flags.has('NAMEINARGS');
  if ((r.lists.get('log_on_success') ?? []).some((f) => f.toUpperCase() === 'TRAFFIC') && redirect === undefined) {
    d.disabled.push(`xinetd did not start it: Service ${b.name} should not have TRAFFIC flag set since its not redirected`);
  }
  if (k.types.has('INTERNAL')) {
    if (k.builtin === null) cannotServe(d, `xinetd's internal service '${b.name}' has no superd builtin (superd has ${BUILTINS.join(', ')})`);
    else setKey(d, 'builtin', k.builtin);
    if (nameInArgs) d.disabled.push(`xinetd did not start it: Service ${b.name} is INTERNAL and has NAMEINARGS flag set`);
    for (const name of PROCESS_ATTRS) {
      const a = get(name);
      const lines = a !== undefined ? (r.fromDefaults.has(name) ? [] : [a]) : r.own.get(name) ?? [];
      for (const line of lines) d.notes.push(noEquivalent('xinetd', setting(line), 'builtins run inside superd, no program is started'));
    }
    return;
  }
  if (server === undefined) {
    if (redirect === undefined) {
      cannotServe(d, k.missing('server', `Must specify a server in ${b.name}`));
      return;
    }
    cannotServe(d, `redirect = ${redirect.raw}: superd does not forward connections to another host`);
    return;
  }
  if (nameInArgs && args === undefined) cannotServe(d, k.missing('server_args', `Service ${b.name} has NAMEINARGS flag set and no server_args`));
  const words = args?.values ?? [];
  mapProgram(d, 'xinetd', first(server), nameInArgs ? (words[0] ?? null) : null, nameInArgs ? words.slice(1) : words);
  if (args !== undefined && words.some((w) => w.startsWith('#'))) {
    d.notes.push(mappedAs('xinetd', setting(args), `xinetd passed every word to the program, '${args.raw.slice(args.raw.indexOf('#'))}' too: it knows no comment after a value; so does superd`));
  }
  if (redirect !== undefined) {
    d.notes.push(noEquivalent('xinetd', setting(redirect), 'superd does not forward connections to another host'));
    d.disabled.push('xinetd forwarded its connections (redirect) rather than run server');
  }
  if (k.transport === 'udp' && k.wait === false) {
    setKey(d, 'wait', 'yes', mappedAs('xinetd', 'wait = no', 'superd starts a udp program only as wait = yes: a nowait datagram handler would be started for every datagram'));
    d.disabled.push('the program was a nowait udp server: check that it works handed the socket (wait = yes), then enable it');
  } else if (k.wait !== null) setKey(d, 'wait', k.wait ? 'yes' : 'no');
  for (const name of ['user', 'group']) {
    const a = get(name);
    if (a !== undefined) setKey(d, name, first(a));
  }
  // xinetd (as root) refuses such a service; superd would run it as itself, root.
  if (get('user') === undefined) d.disabled.push('it has no user, which xinetd requires of a program service: set user, then enable it');
}

/**
 * The daemon name xinetd's libwrap asks hosts.allow and hosts.deny about:
 * `libwrap` if set; the service's name for an internal or redirected
 * service; else the base name of argv[0] with NAMEINARGS, of server without.
 */
function libwrapName(b: XBlock, r: Resolved, types: Set<string>): string[] {
  const get: Get = (name) => r.single.get(name);
  const own = get('libwrap');
  if (own !== undefined) return own.values.slice(0, 1);
  if (types.has('INTERNAL') || get('redirect') !== undefined) return [b.name];
  const nameInArgs = (get('flags')?.values ?? []).some((f) => f.toUpperCase() === 'NAMEINARGS');
  const program = nameInArgs ? get('server_args')?.values[0] : get('server')?.values[0];
  return program === undefined ? [] : [program.slice(program.lastIndexOf('/') + 1)];
}

interface Place {
  transport: 'tcp' | 'udp';
  waitProgram: boolean;
  fromDefaults: (name: string) => string[];
}

function mapLimitsAndAccess(d: Draft, r: Resolved, p: Place): void {
  const get = (name: string): XAttr | undefined => r.single.get(name);
  const instances = get('instances');
  const perSource = get('per_source');
  const cps = get('cps');
  const rate = cps === undefined ? null : cpsRate(cps).rate;
  // What cps = N P means in superd is said once, above the first service, when it comes from defaults.
  const rateNotes = cps === undefined ? [] : r.fromDefaults.has('cps') ? p.fromDefaults('cps') : [cpsRate(cps).note];
  if (cps !== undefined && rate === null) d.notes.push(...rateNotes);
  let maxChildren = instances === undefined ? null : count(instances);
  let maxPerSource = perSource === undefined ? null : count(perSource);
  // 0 is a limit xinetd takes: no server at all, or none for any source.
  if (maxChildren === 0) {
    d.disabled.push(`instances = 0${r.fromDefaults.has('instances') ? ' (from the defaults)' : ''}: xinetd started no server for it, so it served nobody`);
    maxChildren = null;
  }
  if (maxPerSource === 0) {
    d.disabled.push(`per_source = 0${r.fromDefaults.has('per_source') ? ' (from the defaults)' : ''}: xinetd let no source in`);
    maxPerSource = null;
  }
  mapLimits(d, 'xinetd', { transport: p.transport, waitProgram: p.waitProgram, maxChildren, maxPerSource, rate, ratePerSource: null },
    { maxPerSource: perSource === undefined ? undefined : setting(perSource) },
    { maxChildren: p.fromDefaults('instances'), maxPerSource: p.fromDefaults('per_source'), rate: rateNotes });
  const onlyFrom = r.lists.get('only_from');
  const noAccess = r.lists.get('no_access');
  if (p.transport === 'tcp' && p.waitProgram && ((onlyFrom?.length ?? 0) > 0 || (noAccess?.length ?? 0) > 0)) {
    d.notes.push(noEquivalent('xinetd', `only_from/no_access = ${[...(onlyFrom ?? []), ...(noAccess ?? [])].join(' ')}`,
      'the handler of a tcp wait service accepts its connections itself, superd never sees who connects'));
    d.disabled.push('its only_from/no_access cannot be applied to a tcp wait service');
    return;
  }
  // Words after a '#' look like a comment to the author; xinetd read them as host names.
  const split = (names: string[]): { names: string[]; comment: string[] } => ({
    names: names.filter((n) => !r.commentWords.has(n)),
    comment: names.filter((n) => r.commentWords.has(n)),
  });
  const asComment = (name: string, words: string[], effect: string): string =>
    noEquivalent('xinetd', `${name} … ${words.join(' ')}`, `these words follow a '#' and look like a trailing comment, but xinetd knows no comment after a value: it read them as host names, ${effect}`);
  if (onlyFrom !== undefined && onlyFrom.length === 0) {
    d.disabled.push('only_from is empty: xinetd let nobody in');
  } else if (onlyFrom !== undefined) {
    const c = convertAddresses(onlyFrom);
    if (c.blocks.length > 0) setKey(d, 'only_from', c.blocks.join(' '), ...p.fromDefaults('only_from'));
    const { names, comment } = split(c.names);
    if (names.length > 0) d.notes.push(noEquivalent('xinetd', `only_from … ${names.join(' ')}`, 'superd does not resolve names: these hosts are not let in'));
    if (comment.length > 0) d.notes.push(asComment('only_from', comment, 'let in those that resolved and ignored the others; superd does not resolve names, and lets in none of them'));
    if (c.names.length > 0 && c.blocks.length === 0) d.disabled.push('only_from names only hosts, which superd does not resolve: without it everyone would be let in');
  }
  if (noAccess !== undefined && noAccess.length > 0) {
    const c = convertAddresses(noAccess);
    if (c.blocks.length > 0) setKey(d, 'no_access', c.blocks.join(' '), ...p.fromDefaults('no_access'));
    const { names, comment } = split(c.names);
    if (names.length > 0) d.notes.push(noEquivalent('xinetd', `no_access … ${names.join(' ')}`, 'superd does not resolve names'));
    if (comment.length > 0) d.notes.push(asComment('no_access', comment, 'refused those that resolved and ignored the others; superd does not resolve names'));
    if (names.length > 0) d.disabled.push('no_access names hosts, which superd does not resolve: they would be let in');
    else if (comment.length > 0) {
      d.disabled.push(`no_access has words after a '#' (${comment.join(' ')}) that xinetd took for host names, refusing any that resolved; superd does not resolve names: check them, then enable it`);
    }
    const allowed = onlyFrom === undefined ? [] : convertAddresses(onlyFrom).blocks;
    for (const a of allowed) {
      const wider = c.blocks.find((n) => strictlyInside(a, n));
      if (wider !== undefined) {
        d.notes.push(mappedAs('xinetd', `only_from ${a} inside no_access ${wider}`,
          `xinetd let the more specific entry win and let ${a} in; in superd no_access always wins, so ${a} is refused`));
      }
    }
  }
}

/** `cps = N P`: N a second is 60 N a minute; what xinetd did past it, superd does not. N = 0 is no limit. */
function cpsRate(cps: XAttr): { rate: number | null; note: string } {
  const [perSecond = '0', pause = '0'] = cps.values;
  const n = Number(perSecond);
  if (n === 0) return { rate: null, note: mappedAs('xinetd', setting(cps), 'xinetd applies no rate when the first number is 0; superd sets none either') };
  const rate = n * 60;
  return {
    rate,
    note: mappedAs('xinetd', setting(cps), `rate counts per minute, so ${n} a second is ${rate}. ` +
      `Past it xinetd turned the whole service off for ${Number(pause)} s; superd never turns it off, it refuses only the connections past the rate`),
  };
}

function mapEnvironment(d: Draft, r: Resolved, fromDefaults: (name: string) => string[]): void {
  const env = r.lists.get('env') ?? [];
  const good = env.filter((w) => ENV_NAME.test(w.slice(0, Math.max(0, w.indexOf('=')))));
  const bad = env.filter((w) => !good.includes(w));
  if (bad.length > 0) d.notes.push(noEquivalent('xinetd', `env … ${bad.join(' ')}`, 'each entry must be NAME=value'));
  if (good.length > 0) setKey(d, 'env', quoteWords(good), ...fromDefaults('env'));
  const pass = r.lists.get('passenv') ?? [];
  const names = pass.filter((w) => ENV_NAME.test(w));
  if (names.length < pass.length) d.notes.push(noEquivalent('xinetd', `passenv … ${pass.filter((w) => !names.includes(w)).join(' ')}`, 'not variable names'));
  if (names.length > 0) setKey(d, 'pass_env', names.join(' '), ...fromDefaults('passenv'));
}

function mapDisabled(d: Draft, r: Resolved, id: string, defaults: XDefaults | null): void {
  if (isYes(r.single.get('disable'))) d.disabled.push('disable = yes in xinetd');
  const lists = defaultLists(defaults);
  if ((lists.get('disabled') ?? []).includes(id)) d.disabled.push(`listed in disabled of the xinetd defaults at ${defaults?.where ?? '?'}`);
  const enabled = lists.get('enabled');
  if (enabled !== undefined && !enabled.includes(id)) d.disabled.push(`not listed in enabled of the xinetd defaults at ${defaults?.where ?? '?'}`);
}

/** Comments for the service's own settings that superd has no equivalent for, or has anyway. */
function mapNotes(d: Draft, r: Resolved, flags: Set<string>, types: Set<string>, builtin: boolean): void {
  for (const [name, why] of ATTRIBUTE_WHY) {
    if (builtin && PROCESS_ATTRS.has(name)) continue; // said already
    const a = r.single.get(name);
    // What comes from defaults is said once, above the first service; a set's own lines are the service's.
    if (a !== undefined && !r.fromDefaults.has(name)) {
      if (name === 'groups' && first(a).toLowerCase() === 'no') continue; // superd does the same
      d.notes.push(noEquivalent('xinetd', setting(a), why));
      if (name === 'access_times') d.disabled.push('access_times: superd would serve it at all hours');
    }
    for (const line of r.own.get(name) ?? []) d.notes.push(noEquivalent('xinetd', setting(line), why));
  }
  for (const f of flags) {
    const same = FLAGS_SAME.get(f);
    if (same !== undefined) d.notes.push(mappedAs('xinetd', `flags = ${f}`, same));
    const why = FLAG_WHY.get(f);
    if (why === undefined) continue;
    d.notes.push(noEquivalent('xinetd', `flags = ${f}`, why));
    if (f === 'IDONLY') d.disabled.push('flags = IDONLY: superd would let in clients whose user the ident server does not name');
  }
  for (const t of types) {
    const same = TYPES_SAME.get(t);
    if (same !== undefined) d.notes.push(mappedAs('xinetd', `type = ${t}`, same));
  }
}

/**
 * Comments for the defaults: the lines xinetd ignores there, and what it
 * takes that superd has no equivalent for: once, not per service. A value
 * xinetd refuses in defaults is an error: xinetd exits over it.
 */
export function defaultsNotes(defaults: XDefaults | null): Result<string[], ConvertError> {
  if (defaults === null) return ok([]);
  if (defaults.error !== null) return fail(defaults.error);
  const out: string[] = [...defaults.ignored];
  for (const a of defaults.taken) {
    if (a.name === 'cps') out.push(`${cpsRate(a).note} (defaults at ${defaults.where})`);
    const why = ATTRIBUTE_WHY.get(a.name);
    if (why === undefined) continue;
    if (a.name === 'groups' && a.values[0]?.toLowerCase() === 'no') continue;
    out.push(noEquivalent('xinetd', `${setting(a)} (defaults at ${defaults.where})`, why));
  }
  return ok(out);
}
