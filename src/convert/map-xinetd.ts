// One xinetd service -> one draft section. Settings superd can express are
// written as keys; those it cannot are comments that say why; a service
// whose loss of a setting would let in more than xinetd did is disabled, and
// one superd cannot serve at all (RPC, TCPMUX, redirect…) is written as a
// commented-out section. Values xinetd itself would refuse are errors.

import { isIP } from 'node:net';
import type { BuiltinName } from '../config/types.js';
import { fail, ok, type Result } from '../errors.js';
import { strictlyInside, convertAddresses } from './access.js';
import { builtinFor, BUILTINS, mapLimits, mappedAs, mapProgram, noEquivalent, sanitizeName, type MapContext } from './map-common.js';
import { quoteWords } from './quote.js';
import { cannotServe, convertError, newDraft, setKey, type ConvertError, type Draft } from './types.js';
import type { XAttr, XBlock } from './xinetd.js';
import { defaultLists, resolve, type Resolved, type XDefaults } from './xinetd-resolve.js';
import { ATTRIBUTE_WHY, FLAG_WHY, FLAGS_SAME, KNOWN_FLAGS, KNOWN_TYPES, PROCESS_ATTRS } from './xinetd-notes.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class BadValue extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

const setting = (a: XAttr): string => `${a.name} ${a.op} ${a.raw}`.trimEnd();

function one(a: XAttr): string {
  if (a.values.length !== 1) throw new BadValue(a.line, `${a.name} takes one value, got '${a.raw}'`);
  return a.values[0] as string;
}

function yesNo(a: XAttr): boolean {
  const v = one(a).toLowerCase();
  if (v !== 'yes' && v !== 'no') throw new BadValue(a.line, `${a.name} must be yes or no, got '${a.raw}'`);
  return v === 'yes';
}

/** A count, or null for UNLIMITED. */
function count(a: XAttr): number | null {
  const v = one(a);
  if (v.toUpperCase() === 'UNLIMITED') return null;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new BadValue(a.line, `${a.name} must be a whole number of at least 1 or UNLIMITED, got '${a.raw}'`);
  return Number(v);
}

export function mapXinetdService(b: XBlock, defaults: XDefaults | null, ctx: MapContext): Result<Draft, ConvertError> {
  const resolved = resolve(b, defaults);
  if (!resolved.ok) return resolved;
  try {
    return ok(build(b, resolved.value, defaults, ctx));
  } catch (e) {
    if (!(e instanceof BadValue)) throw e;
    return fail(convertError('xinetd_value', b.file, e.line, `service ${b.name}: ${e.message}`));
  }
}

type Get = (name: string) => XAttr | undefined;

function build(b: XBlock, r: Resolved, defaults: XDefaults | null, _ctx: MapContext): Draft {
  const get: Get = (name) => r.single.get(name);
  const fromDefaults = (name: string): string[] => (r.fromDefaults.has(name) && defaults !== null ? [`# from the xinetd defaults at ${defaults.where}`] : []);
  const id = get('id') === undefined ? b.name : one(get('id') as XAttr);
  const d = newDraft(b.file, b.line, `service ${b.name}${id === b.name ? '' : ` (id ${id})`}`, sanitizeName(id), b.comments);

  const types = new Set((get('type')?.values ?? []).map((t) => t.toUpperCase()));
  for (const t of types) if (!KNOWN_TYPES.has(t)) throw new BadValue(get('type')?.line ?? b.line, `unknown type '${t}' (xinetd knows ${[...KNOWN_TYPES].join(', ')})`);
  const flagAttr = get('flags');
  const flags = new Set((flagAttr?.values ?? []).map((f) => f.toUpperCase()));
  for (const f of flags) if (!KNOWN_FLAGS.has(f)) throw new BadValue(flagAttr?.line ?? b.line, `unknown flag '${f}'`);

  const { transport, wait } = mapSocket(d, b, get, types, flags, fromDefaults);
  const builtin = types.has('INTERNAL') ? builtinFor(b.name, id) : null;
  mapHandler(d, b, r, { types, flags, transport, wait, builtin });
  if (!flags.has('NOLIBWRAP')) for (const name of libwrapName(b, r, types)) if (!d.wrappedAs.includes(name)) d.wrappedAs.push(name);
  mapLimitsAndAccess(d, r, { transport, waitProgram: builtin === null && wait, fromDefaults });
  if (builtin === null) mapEnvironment(d, r, fromDefaults);
  mapDisabled(d, r, id, defaults);
  mapNotes(d, r, flags, builtin !== null);
  return d;
}

/** protocol, port and bind; the transport and wait, which the rest depends on. */
function mapSocket(d: Draft, b: XBlock, get: Get, types: Set<string>, flags: Set<string>, fromDefaults: (name: string) => string[]): { transport: 'tcp' | 'udp'; wait: boolean } {
  const socketType = get('socket_type');
  if (socketType === undefined) throw new BadValue(b.line, 'socket_type is missing (xinetd needs it: stream or dgram)');
  const st = one(socketType);
  const transport = st === 'stream' ? 'tcp' : st === 'dgram' ? 'udp' : null;
  if (transport === null && !['raw', 'seqpacket', 'rdm'].includes(st)) throw new BadValue(socketType.line, `socket_type must be stream, dgram, raw or seqpacket, got '${st}'`);
  if (transport === null) cannotServe(d, `socket_type = ${st}: superd serves stream (tcp) and dgram (udp) sockets only`);
  const protocolAttr = get('protocol');
  const protocol = protocolAttr === undefined ? transport : one(protocolAttr).toLowerCase();
  if (protocol !== transport && transport !== null) {
    cannotServe(d, protocol === 'tcp' || protocol === 'udp'
      ? `protocol = ${protocol} does not go with socket_type = ${st}`
      : `protocol = ${protocol}: superd serves tcp and udp only`);
  }
  const waitAttr = get('wait');
  if (waitAttr === undefined) throw new BadValue(b.line, 'wait is missing (xinetd needs it: yes or no)');
  const wait = yesNo(waitAttr);

  // xinetd listens on IPv4 unless flags has IPv6 (then on both, or IPv6 only with v6only); a bind address decides alone.
  const bindAttr = get('bind');
  const bind = bindAttr === undefined ? null : one(bindAttr);
  const v6only = get('v6only') === undefined ? false : yesNo(get('v6only') as XAttr);
  const family = bind !== null && isIP(bind) !== 0 ? String(isIP(bind)) : flags.has('IPV6') ? (v6only ? '6' : '') : '4';
  const t = transport ?? 'tcp';
  setKey(d, 'protocol', `${t}${family}`);

  const portAttr = get('port');
  if (portAttr !== undefined) {
    const p = one(portAttr);
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new BadValue(portAttr.line, `port must be a number 1-65535, got '${p}'`);
    setKey(d, 'port', p);
  } else if (types.has('UNLISTED') && !types.has('RPC')) {
    cannotServe(d, 'type = UNLISTED and no port: xinetd would not know where to listen either');
  } else if (!types.has('RPC')) {
    // xinetd looks the service name up in /etc/services; superd's port takes that name.
    setKey(d, 'port', b.name);
  }
  if (bind !== null && bindAttr !== undefined) {
    if (isIP(bind) !== 0) setKey(d, 'bind', bind, ...fromDefaults('bind'));
    else {
      d.notes.push(noEquivalent('xinetd', setting(bindAttr), 'bind takes an address, not a host name'));
      d.disabled.push(`bind = ${bind} is a host name: without a bind the service would listen on every address`);
    }
  }
  return { transport: t, wait };
}

interface Kind {
  types: Set<string>;
  flags: Set<string>;
  transport: 'tcp' | 'udp';
  wait: boolean;
  builtin: BuiltinName | null;
}

/** builtin, or server, args, wait, user and group; or why there is no handler superd can run. */
function mapHandler(d: Draft, b: XBlock, r: Resolved, k: Kind): void {
  const get: Get = (name) => r.single.get(name);
  if (k.types.has('RPC')) cannotServe(d, 'type = RPC: superd does not register services with the portmapper (rpcbind)');
  if (k.types.has('TCPMUX') || k.types.has('TCPMUXPLUS')) cannotServe(d, 'type = TCPMUX: superd does not serve the tcpmux port (RFC 1078) that such services are reached through');
  if (k.flags.has('SENSOR')) cannotServe(d, 'flags = SENSOR: superd has no sensors that ban the hosts that connect');
  const server = get('server');
  const redirect = get('redirect');
  if (k.types.has('INTERNAL')) {
    if (k.builtin === null) cannotServe(d, `xinetd's internal service '${b.name}' has no superd builtin (superd has ${BUILTINS.join(', ')})`);
    else setKey(d, 'builtin', k.builtin);
    for (const name of PROCESS_ATTRS) {
      if (r.fromDefaults.has(name)) continue;
      const a = get(name);
      const list = r.lists.get(name);
      const what = a !== undefined ? setting(a) : list !== undefined ? `${name} = ${list.join(' ')}` : null;
      if (what !== null) d.notes.push(noEquivalent('xinetd', what, 'builtins run inside superd, no program is started'));
    }
    return;
  }
  if (server === undefined) {
    if (redirect === undefined) throw new BadValue(b.line, 'server is missing (xinetd needs it for a service that is not INTERNAL)');
    cannotServe(d, `redirect = ${redirect.raw}: superd does not forward connections to another host`);
    return;
  }
  const words = get('server_args')?.values ?? [];
  const nameInArgs = k.flags.has('NAMEINARGS');
  mapProgram(d, 'xinetd', one(server), nameInArgs ? (words[0] ?? null) : null, nameInArgs ? words.slice(1) : words);
  if (redirect !== undefined) {
    d.notes.push(noEquivalent('xinetd', setting(redirect), 'superd does not forward connections to another host'));
    d.disabled.push('xinetd forwarded its connections (redirect) rather than run server');
  }
  if (k.transport === 'udp' && !k.wait) {
    setKey(d, 'wait', 'yes', mappedAs('xinetd', 'wait = no', 'superd starts a udp program only as wait = yes: a nowait datagram handler would be started for every datagram'));
    d.disabled.push('the program was a nowait udp server: check that it works handed the socket (wait = yes), then enable it');
  } else setKey(d, 'wait', k.wait ? 'yes' : 'no');
  for (const name of ['user', 'group']) {
    const a = get(name);
    if (a !== undefined) setKey(d, name, one(a));
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
  const maxChildren = instances === undefined ? null : count(instances);
  const maxPerSource = perSource === undefined ? null : count(perSource);
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
  if (onlyFrom !== undefined && onlyFrom.length === 0) {
    d.disabled.push('only_from is empty: xinetd let nobody in');
  } else if (onlyFrom !== undefined) {
    const c = convertAddresses(onlyFrom);
    if (c.blocks.length > 0) setKey(d, 'only_from', c.blocks.join(' '), ...p.fromDefaults('only_from'));
    if (c.names.length > 0) {
      d.notes.push(noEquivalent('xinetd', `only_from … ${c.names.join(' ')}`, 'superd does not resolve names: these hosts are not let in'));
      if (c.blocks.length === 0) d.disabled.push('only_from names only hosts, which superd does not resolve: without it everyone would be let in');
    }
  }
  if (noAccess !== undefined && noAccess.length > 0) {
    const c = convertAddresses(noAccess);
    if (c.blocks.length > 0) setKey(d, 'no_access', c.blocks.join(' '), ...p.fromDefaults('no_access'));
    if (c.names.length > 0) {
      d.notes.push(noEquivalent('xinetd', `no_access … ${c.names.join(' ')}`, 'superd does not resolve names'));
      d.disabled.push('no_access names hosts, which superd does not resolve: they would be let in');
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

/** `cps = N P`: N a second is 60 N a minute; what xinetd did past it, superd does not. */
function cpsRate(cps: XAttr): { rate: number; note: string } {
  const [perSecond = '', pause] = cps.values;
  if (!/^\d+$/.test(perSecond) || Number(perSecond) < 1 || cps.values.length > 2 || (pause !== undefined && !/^\d+$/.test(pause))) {
    throw new BadValue(cps.line, `cps takes connections per second and seconds to pause, like 'cps = 50 10', got '${cps.raw}'`);
  }
  const rate = Number(perSecond) * 60;
  return {
    rate,
    note: mappedAs('xinetd', setting(cps), `rate counts per minute, so ${perSecond} a second is ${rate}. ` +
      `Past it xinetd turned the whole service off${pause === undefined ? '' : ` for ${pause} s`}; superd never turns it off, it refuses only the connections past the rate`),
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
  const disable = r.single.get('disable');
  if (disable !== undefined && yesNo(disable)) d.disabled.push('disable = yes in xinetd');
  if ((r.single.get('flags')?.values ?? []).some((f) => f.toUpperCase() === 'DISABLE')) d.disabled.push('flags = DISABLE in xinetd');
  const lists = defaultLists(defaults);
  if ((lists.get('disabled') ?? []).includes(id)) d.disabled.push(`listed in disabled of the xinetd defaults at ${defaults?.where ?? '?'}`);
  const enabled = lists.get('enabled');
  if (enabled !== undefined && !enabled.includes(id)) d.disabled.push(`not listed in enabled of the xinetd defaults at ${defaults?.where ?? '?'}`);
}

/** Comments for the service's own settings that superd has no equivalent for. */
function mapNotes(d: Draft, r: Resolved, flags: Set<string>, builtin: boolean): void {
  for (const [name, why] of ATTRIBUTE_WHY) {
    const a = r.single.get(name);
    const list = r.lists.get(name);
    if (builtin && PROCESS_ATTRS.has(name)) continue; // said already
    if (r.fromDefaults.has(name)) continue; // said once, above the first service
    if (name === 'groups' && a !== undefined && one(a).toLowerCase() === 'no') continue; // superd does the same
    if (a !== undefined) d.notes.push(noEquivalent('xinetd', setting(a), why));
    if (list !== undefined) d.notes.push(noEquivalent('xinetd', `${name} = ${list.join(' ')}`, why));
    if (name === 'access_times' && a !== undefined) d.disabled.push('access_times: superd would serve it at all hours');
  }
  for (const f of flags) {
    const why = FLAG_WHY.get(f);
    if (why === undefined || FLAGS_SAME.has(f)) continue;
    d.notes.push(noEquivalent('xinetd', `flags = ${f}`, why));
    if (f === 'IDONLY') d.disabled.push('flags = IDONLY: superd would let in clients whose user the ident server does not name');
  }
}

/** Comments for what the defaults block sets that superd has no equivalent for: once, not per service. */
export function defaultsNotes(defaults: XDefaults | null): Result<string[], ConvertError> {
  if (defaults === null) return ok([]);
  const out: string[] = [];
  for (const a of defaults.attrs) {
    if (a.name === 'cps') {
      try {
        out.push(`${cpsRate(a).note} (defaults at ${defaults.where})`);
      } catch (e) {
        if (!(e instanceof BadValue)) throw e;
        return fail(convertError('xinetd_value', defaults.file, e.line, `defaults: ${e.message}`));
      }
    }
    const why = ATTRIBUTE_WHY.get(a.name);
    if (why === undefined) continue;
    if (a.name === 'groups' && a.values[0]?.toLowerCase() === 'no') continue;
    out.push(noEquivalent('xinetd', `${setting(a)} (defaults at ${defaults.where})`, why));
  }
  return ok(out);
}
