// A daemon name's verdict applied to a converted service: its only_from
// narrowed, or its no_access widened (whichever is shorter), so that it lets
// in exactly (its own only_from less no_access) ∩ (whom tcpd let in); or the
// service disabled when that is nobody, or when superd cannot apply it.

import { AddrSet } from '../addrset.js';
import { mappedAs, noEquivalent } from '../map-common.js';
import { setKey, type Draft, type DraftKey } from '../types.js';
import type { HostsAccess, WrapRule } from './tables.js';
import { wrapVerdict } from './verdict.js';

const keyOf = (d: Draft, name: string): DraftKey | undefined => d.keys.find((k) => k.key === name);

function setOf(value: string | undefined): AddrSet | null {
  if (value === undefined) return null;
  return AddrSet.union(value.split(/[\s,]+/).filter((w) => w !== '').map((w) => AddrSet.parse(w) ?? AddrSet.none));
}

function listed(rules: readonly WrapRule[]): string {
  return rules.map((r) => r.where).join(', ');
}

/**
 * Narrows the draft's only_from / no_access to the clients hosts.allow and
 * hosts.deny let in under each of `d.wrappedAs`; disables it when that is
 * nobody, or when superd cannot apply it (a tcp wait program accepts its
 * connections itself). Whether any rule named one of them.
 */
export function applyWrappers(d: Draft, h: HostsAccess): boolean {
  if (d.unservable !== null) return false;
  let ruled = false;
  for (const daemon of d.wrappedAs) {
    const v = wrapVerdict(h, daemon);
    if (v.rules.length === 0) continue;
    ruled = true;
    const what = `hosts.allow/hosts.deny for ${daemon} (${listed(v.rules)})`;
    const notes = v.notes.map((n) => mappedAs(syntaxOf(d), what, n));
    for (const why of v.narrowed) d.notes.push(noEquivalent(syntaxOf(d), what, `${why}: the clients only it would let in are not let in`));
    d.notes.push(...notes);
    if (v.allowed.isAll()) continue;
    if (v.allowed.isEmpty()) {
      d.disabled.push(`${what} let nobody in`);
      continue;
    }
    const protocol = keyOf(d, 'protocol')?.value ?? '';
    if (protocol.startsWith('tcp') && keyOf(d, 'wait')?.value === 'yes') {
      d.notes.push(noEquivalent(syntaxOf(d), what, 'the handler of a tcp wait service accepts its connections itself, superd never sees who connects'));
      d.disabled.push(`its ${what} cannot be applied to a tcp wait service`);
      continue;
    }
    restrict(d, v.allowed, what);
  }
  return ruled;
}

function syntaxOf(d: Draft): 'xinetd' | 'inetd' {
  return d.what.startsWith('service ') ? 'xinetd' : 'inetd';
}

/** only_from ∩ allowed, or no_access ∪ ¬allowed: whichever is shorter; both let in exactly (only_from \ no_access) ∩ allowed. */
function restrict(d: Draft, allowed: AddrSet, what: string): void {
  const onlyKey = keyOf(d, 'only_from');
  const noKey = keyOf(d, 'no_access');
  const only = setOf(onlyKey?.value) ?? AddrSet.all;
  const no = setOf(noKey?.value) ?? AddrSet.none;
  const narrowed = only.intersect(allowed);
  if (narrowed.minus(no).isEmpty()) {
    d.disabled.push(`its only_from and no_access together with ${what} let nobody in`);
    return;
  }
  const asOnly = narrowed.blocks();
  const asNo = no.union(allowed.complement()).blocks();
  const note = mappedAs(syntaxOf(d), what, 'applied here');
  if (asOnly.length <= asNo.length || onlyKey === undefined && asOnly.length <= 8) {
    if (onlyKey !== undefined) {
      onlyKey.value = asOnly.join(' ');
      onlyKey.notes.push(note);
    } else setKey(d, 'only_from', asOnly.join(' '), note);
  } else if (noKey !== undefined) {
    noKey.value = asNo.join(' ');
    noKey.notes.push(note);
  } else setKey(d, 'no_access', asNo.join(' '), note);
}

/** The lines above the first service, when hosts.allow or hosts.deny had rules for any service. */
export function wrappersHeader(h: HostsAccess): string[] {
  return [
    `# Rules of ${h.allowFile} and ${h.denyFile}, which tcpd and xinetd's libwrap applied,`,
    '# are written as only_from and no_access of the services they name.',
  ];
}
