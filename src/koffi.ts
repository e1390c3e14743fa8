// The C library through koffi (a prebuilt FFI: no compiler at install time),
// for the few calls Node does not offer: spawning (spawn/libc.ts) and native
// sockets (listen/native.ts). Throws where koffi cannot load; each user turns
// that into a value and falls back.
import { createRequire } from 'node:module';

export interface KoffiFunc {
  (...args: unknown[]): unknown;
  /** The call on a libuv pool thread; `done(err, result)` on the event loop. */
  async(...args: unknown[]): void;
}

export interface CLibrary {
  /** A function of libc from its C prototype. */
  func(signature: string): KoffiFunc;
  /** errno of the last call on this thread: read it right after the call that failed. */
  errno(): number;
}

interface Koffi {
  load(name: string): { func(signature: string): KoffiFunc };
  errno(): number;
}

let loaded: CLibrary | undefined;

export function openLibc(): CLibrary {
  if (loaded === undefined) {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    loaded = { func: (signature) => lib.func(signature), errno: () => koffi.errno() };
  }
  return loaded;
}
