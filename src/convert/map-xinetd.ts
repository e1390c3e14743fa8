// One xinetd service -> one draft section, as xinetd would have served it
// (xinetd-resolve.ts reads its lines as xinetd does; the socket is
// map-xinetd-socket.ts's, limits and access map-xinetd-access.ts's). Settings superd can
// express are written as keys; those it cannot are comments that say why;
// a service xinetd did not start, or whose loss of a setting would let in
// more than xinetd did, is disabled with the reason; one superd cannot
// serve at all (RPC, TCPMUX, redirect…), or that xinetd could not even
// read, is written as a commented-out section. Nothing here stops the
// conversion: a problem in one service leaves the others as they are.

import type { BuiltinName } from '../config/types.js';
import { fail, ok, type Result } from '../errors.js';
import { builtinFor, BUILTINS, mappedAs, mapProgram, noEquivalent, sanitizeName, type MapContext } from './map-common.js';
import { quoteWords } from './quote.js';
import { cannotServe, newDraft, setKey, type ConvertError, type Draft } from './types.js';
import type { XAttr, XBlock } from './xinetd.js';
import { cpsRate, mapLimitsAndAccess } from './map-xinetd-access.js';
import { mapSocket } from './map-xinetd-socket.js';
import { mapProcessSettings } from './map-xinetd-process.js';
import { first, isYes, type Get, type Missing } from './xinetd-attrs.js';
import { defaultLists, resolve, setting, type Resolved, type XDefaults } from './xinetd-resolve.js';
import { ATTRIBUTE_WHY, FLAG_WHY, FLAGS_SAME, PROCESS_ATTRS, TYPES_SAME } from './xinetd-notes.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function mapXinetdService(b: XBlock, defaults: XDefaults | null, ctx: MapContext): Result<Draft, ConvertError> {
  return ok(build(b, resolve(b, defaults), defaults, ctx));
}

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
  if (builtin === null && d.unservable === null) mapProcessSettings(d, r, fromDefaults);
  mapDisabled(d, r, id, defaults);
  mapNotes(d, r, flags, types, builtin !== null);
  // A reason that is already the one the section is not converted for is said once.
  if (d.unservable !== null) d.disabled = d.disabled.filter((x) => x !== d.unservable);
  return d;
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
    out.push(noEquivalent('xinetd', `${setting(a)} (defaults at ${defaults.where})`, why));
  }
  return ok(out);
}
