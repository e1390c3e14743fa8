// An xinetd service's limits and access lists -> max_children,
// max_per_source, rate, only_from and no_access; and what cps = N P means.

import { strictlyInside, convertAddresses } from './access.js';
import { mapLimits, mappedAs, noEquivalent } from './map-common.js';
import { setKey, type Draft } from './types.js';
import type { XAttr } from './xinetd.js';
import { count } from './xinetd-attrs.js';
import { setting, type Resolved } from './xinetd-resolve.js';

export interface Place {
  transport: 'tcp' | 'udp';
  waitProgram: boolean;
  fromDefaults: (name: string) => string[];
}

export function mapLimitsAndAccess(d: Draft, r: Resolved, p: Place): void {
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
export function cpsRate(cps: XAttr): { rate: number | null; note: string } {
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
