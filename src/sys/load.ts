// The native layer: the C library's calls Node does not offer, through koffi,
// each bound once, loaded once per thread. Loaded lazily, so that `superd
// check` and hosts where it cannot load still work: there superd starts
// handlers with child_process (spawn/child-process.ts) and says so.
//
// The layouts and numbers here are those of little-endian 64-bit Linux on
// x86_64 and aarch64 (glibc). koffi follows the C ABI of other hosts too, but
// not their kernels' own choices (another siginfo_t order on mips, other
// socket and open flags on mips, alpha, sparc, parisc): rather than read a
// wrong pid out of a siginfo_t, every other host gets no native layer.
import { endianness } from 'node:os';
import { SysError } from './errors.js';
import { bindEpoll, type EpollCalls } from './epoll.js';
import { bindFd, type FdCalls } from './fd.js';
import { koffi } from './koffi.js';
import { bindPassing, type PassingCalls } from './passing.js';
import { bindProcess, type ProcessCalls } from './process.js';
import { bindSocket, type SocketCalls } from './socket.js';
import { bindSpawn, type SpawnCalls } from './spawn.js';
import { structs } from './structs.js';

/** Every call of the native layer. Each returns what libc returns unless it says otherwise: nothing here throws once loaded. */
export interface Sys extends FdCalls, ProcessCalls, SpawnCalls, SocketCalls, EpollCalls, PassingCalls {
  /** errno of the last call on this thread: read it right after the call that failed. */
  errno(): number;
}

const SUPPORTED_ARCHES: readonly string[] = ['x64', 'arm64'];

/** Why this host gets no native layer, or null when its layouts are the ones superd knows. */
export function unsupportedHost(platform: string = process.platform, arch: string = process.arch, byteOrder: string = endianness()): string | null {
  if (platform === 'linux' && SUPPORTED_ARCHES.includes(arch) && byteOrder === 'LE') return null;
  return `this host is ${platform} on ${arch} (${byteOrder}): superd's native calls know the memory layouts of little-endian 64-bit Linux on x86_64 and aarch64 only`;
}

let cached: Sys | SysError | undefined;

/** The native layer, or why this host cannot have it (code ENOSYS). */
export function loadSys(): Sys | SysError {
  if (cached !== undefined) return cached;
  const unsupported = unsupportedHost();
  if (unsupported !== null) return (cached = new SysError('ENOSYS', unsupported));
  try {
    const k = koffi();
    // Before the bindings: their signatures name these structs.
    structs();
    cached = { ...bindFd(), ...bindProcess(), ...bindSpawn(), ...bindSocket(), ...bindEpoll(), ...bindPassing(), errno: () => k.errno() };
  } catch (err) {
    cached = new SysError('ENOSYS', `native calls unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  return cached;
}
