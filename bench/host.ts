// What the machine has: programs on PATH, package versions, libraries, users, a stale build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';

export function which(name: string, extra: string[] = []): string | null {
  for (const d of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/sbin', ...extra]) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

export function dpkgVersion(pkg: string): string | null {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8', timeout: 10000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** The libraries `ldd` cannot find for bin. */
export function missingLibs(bin: string): string[] {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s/)[0] ?? l);
}

/** The name of uid/gid `id` in /etc/passwd or /etc/group, or null. */
function idName(file: string, id: number): string | null {
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 3 && Number(f[2]) === id && f[2] !== '') return f[0] ?? null;
    }
  } catch {}
  return null;
}
export const NOBODY_UID = 65534;
export const NOBODY_USER = idName('/etc/passwd', NOBODY_UID) ?? 'nobody';
export const NOBODY_GROUP = idName('/etc/group', NOBODY_UID) ?? 'nogroup';

function newestMtime(dir: string, ext: string): number {
  let best = 0;
  const walk = (d: string): void => {
    let ents: fs.Dirent[] = [];
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(ext)) best = Math.max(best, fs.statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return best;
}

export function staleBuildWarning(): string | null {
  const src = newestMtime(path.join(ROOT, 'src'), '.ts');
  const dist = newestMtime(path.join(ROOT, 'dist'), '.js');
  if (src && dist && src > dist) return 'src/ has files newer than dist/: `npm run build` first, or the old build is measured';
  return null;
}
