// koffi (a prebuilt FFI: no compiler at install time), loaded once per thread
// and typed as far as src/sys/ uses it. No file outside src/sys/ imports it:
// the rest of superd calls what load.ts returns.
import { createRequire } from 'node:module';

/** A koffi type (struct, union, array, pointer), opaque here but for its size. */
export interface KoffiType {
  readonly name: string;
  readonly size: number;
}
type TypeSpec = string | KoffiType;

/** A C function. */
export interface KoffiFunction {
  (...args: unknown[]): unknown;
  /** The call on a libuv pool thread; `done(err, result)` on the event loop. */
  async(...args: unknown[]): void;
}

export interface Koffi {
  load(path: string): { func(signature: string): KoffiFunction };
  /** errno of the last call on this thread: read it right after the call that failed. */
  errno(): number;
  /** A struct laid out as the platform's C compiler would (named: usable in signatures). */
  struct(name: string, members: Record<string, TypeSpec>): KoffiType;
  struct(members: Record<string, TypeSpec>): KoffiType;
  /** A struct with no padding at all. */
  pack(name: string, members: Record<string, TypeSpec>): KoffiType;
  union(members: Record<string, TypeSpec>): KoffiType;
  array(type: TypeSpec, length: number): KoffiType;
  pointer(type: TypeSpec): KoffiType;
  sizeof(type: TypeSpec): number;
  offsetof(type: TypeSpec, member: string): number;
  /** Writes `value` as `type` into buffer at offset. */
  encode(buffer: Buffer, offset: number, type: TypeSpec, value: unknown): void;
  /** Reads a `type` from buffer at offset: a plain object for a struct, a typed array for an array of numbers. */
  decode(buffer: Buffer, offset: number, type: TypeSpec): unknown;
}

let loaded: Koffi | undefined;

/** koffi itself; throws where it cannot load (no prebuilt binary for this host). */
export function koffi(): Koffi {
  loaded ??= createRequire(import.meta.url)('koffi') as Koffi;
  return loaded;
}

let libcHandle: { func(signature: string): KoffiFunction } | undefined;

/** A function of the C library from its C prototype; throws where it cannot be had. */
export function libcFunction(signature: string): KoffiFunction {
  libcHandle ??= koffi().load('libc.so.6');
  return libcHandle.func(signature);
}
