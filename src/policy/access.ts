// only_from and no_access (SPEC §2): who may connect, by exact address or
// CIDR block. Not widened to /64 like the per-source limits: an operator who
// writes an address means that address.
import { BlockList, isIP } from 'node:net';

export type AccessRefusal = 'only_from' | 'no_access';

export interface AccessRules {
  /** Why `address` may not connect, or null if it may. '' (unix) matches no rule. */
  check(address: string): AccessRefusal | null;
}

/**
 * The rules of a service, or null when it has none, so the common case costs
 * nothing per connection. `onlyFrom` null means everyone; an empty list would
 * mean nobody (config validation does not let one through). Entries are those
 * parseAddressList accepted; anything else is a bug and BlockList throws.
 */
export function accessRules(onlyFrom: readonly string[] | null, noAccess: readonly string[]): AccessRules | null {
  if (onlyFrom === null && noAccess.length === 0) return null;
  const allowed = onlyFrom === null ? null : blockList(onlyFrom);
  const denied = noAccess.length === 0 ? null : blockList(noAccess);
  return {
    check(address: string): AccessRefusal | null {
      // BlockList matches `::ffff:a.b.c.d` against IPv4 rules (and plain
      // IPv4 against `::ffff:` rules), so a dual-stack client needs nothing here.
      const family = address.indexOf(':') >= 0 ? 'ipv6' : 'ipv4';
      const known = address !== '';
      if (denied !== null && known && denied.check(address, family)) return 'no_access';
      if (allowed !== null && !(known && allowed.check(address, family))) return 'only_from';
      return null;
    },
  };
}

function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (slash < 0) list.addAddress(address, family);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), family);
  }
  return list;
}
