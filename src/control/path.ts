import { join } from 'node:path';

/** SPEC §1: /run/superd.sock as root, else $XDG_RUNTIME_DIR/superd.sock, else /tmp/superd-UID.sock. */
export function defaultControlSocket(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/superd.sock';
  const runtimeDir = env.XDG_RUNTIME_DIR;
  return runtimeDir !== undefined && runtimeDir !== '' ? join(runtimeDir, 'superd.sock') : `/tmp/superd-${uid}.sock`;
}
