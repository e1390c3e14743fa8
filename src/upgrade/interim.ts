// A move still under way at an upgrade: a reload gave a service another
// address, its new socket could not bind yet (bind_failed, retried every
// 30 s), and the old socket serves until it does (service/set.ts, rebind).
// The new image has the service's new definition only; it serves the old
// socket with that definition at the old address, which is what the old
// image did save for settings the same reload changed, and goes on trying
// the new address. Pure: which old sockets serve so, what the state carries
// of each, and the definition the new image serves it with.
import { describeAddress, type Protocol, type ServiceDefinition } from '../config/types.js';
import type { PassedInterim } from './state.js';

type Kind = PassedInterim['kind'];

function kindOf(def: ServiceDefinition): Kind {
  return def.handler.kind === 'builtin' ? 'builtin' : def.wait ? 'wait' : 'nowait';
}

function transport(protocol: Protocol): 'unix' | 'stream' | 'dgram' {
  return protocol === 'unix' ? 'unix' : protocol.startsWith('udp') ? 'dgram' : 'stream';
}

/**
 * The old runtimes whose socket serves while an active one waits to bind
 * (service/set.ts: `predecessors`), each with that active one. A service
 * moved twice before either new socket bound has its oldest socket serving.
 */
export function servingOld<T extends { readonly listening: string | null }>(active: Iterable<T>, predecessors: ReadonlyMap<T, T>): Map<T, T> {
  const serving = new Map<T, T>();
  for (const next of active) {
    if (next.listening !== null) continue;
    let old = predecessors.get(next);
    while (old !== undefined && old.listening === null) old = predecessors.get(old);
    if (old !== undefined) serving.set(old, next);
  }
  return serving;
}

/** What the state says of `serving`'s socket while its service waits to bind `next`'s address. */
export function interimOf(serving: ServiceDefinition, next: ServiceDefinition): PassedInterim {
  const { protocol, bind, port, path, socketMode } = serving;
  return { to: describeAddress(next), protocol, bind, port, path, socketMode, kind: kindOf(serving) };
}

/**
 * The definition the old socket is served with: def at the old address. Null
 * when def is at that very address (it simply takes the socket), or is
 * another kind of service or transport than the socket was made for (the
 * socket is closed, and def binds its own as at any start).
 */
export function interimDefinition(def: ServiceDefinition, interim: PassedInterim): ServiceDefinition | null {
  if (kindOf(def) !== interim.kind || transport(def.protocol) !== transport(interim.protocol)) return null;
  const { protocol, bind, port, path, socketMode } = interim;
  const at: ServiceDefinition = { ...def, protocol, bind, port, path, socketMode };
  return describeAddress(at) === describeAddress(def) ? null : at;
}
