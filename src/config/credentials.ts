// The keys that say whom a handler runs as (SPEC §2): user and group, by name
// or number, resolved through NSS before validation (users.ts). Without root,
// superd can only run handlers as itself.
import { clip } from './clip.js';
import type { Reader } from './section-reader.js';
import type { Suggest } from './suggest.js';
import { userIndex, type UserDb } from './systemdb.js';
import type { Credentials } from './types.js';
import { resolveGroup, resolveUser, type ResolvedUser } from './values.js';

/** Who superd is: a handler may only differ from it when superd is root. */
export interface Self {
  passwd: UserDb;
  selfUid: number;
  selfGid: number;
}

function selfLabel(ctx: Self): string {
  const me = userIndex(ctx.passwd).userByUid.get(ctx.selfUid);
  return me ? `${me.name}(${ctx.selfUid})` : String(ctx.selfUid);
}

export function resolveCredentials(r: Reader, ctx: Self, suggest: Suggest): Credentials | null {
  const userText = r.raw.get('user');
  const groupText = r.raw.get('group');
  if (userText === undefined && groupText === undefined) return null;

  let user: ResolvedUser | null = null;
  if (userText !== undefined) {
    const resolved = resolveUser(userText, ctx.passwd, suggest);
    if (!resolved.ok) {
      r.report('bad_value', 'user', resolved.error);
      return null;
    }
    user = resolved.value;
  }
  let gid: number | null = null;
  if (groupText !== undefined) {
    const resolved = resolveGroup(groupText, ctx.passwd, suggest);
    if (!resolved.ok) {
      r.report('bad_value', 'group', resolved.error);
      return null;
    }
    gid = resolved.value;
  }

  const root = ctx.selfUid === 0;
  if (!root && user !== null && user.uid !== ctx.selfUid) {
    r.report('needs_root', 'user', `user '${clip(userText ?? '')}' needs superd to run as root (it runs as uid ${ctx.selfUid})`);
    return null;
  }
  if (!root && gid !== null && gid !== ctx.selfGid) {
    r.report('needs_root', 'group', `group '${clip(groupText ?? '')}' needs superd to run as root (it runs as gid ${ctx.selfGid})`);
    return null;
  }

  if (user === null) return { uid: ctx.selfUid, gid: gid ?? ctx.selfGid, label: selfLabel(ctx) };
  // Without root superd cannot change groups, so its own gid is the only one that works.
  const primary = root ? user.gid : ctx.selfGid;
  const finalGid = gid ?? primary;
  if (finalGid === null) {
    r.report('missing_key', 'user', user.lookupFailed === undefined
      ? `uid ${user.uid} is no user the system knows, so it has no primary group: set group too`
      : `uid ${user.uid} could not be looked up (${user.lookupFailed}), so its primary group is not known: set group too, or make the source /etc/nsswitch.conf names reachable`);
    return null;
  }
  return { uid: user.uid, gid: finalGid, label: user.label };
}
