// Loading libc symbols. Each wrapper module of this folder declares the
// symbols it calls, with their C signatures, next to the code that calls
// them, and gets them loaded on first use: bun:ffi compiles a trampoline per
// symbol (~30 us each), and a thin client must not pay for the spawner's
// namespaces or the terminal code. Nothing outside src/libc calls a symbol
// (test/unit/libc-boundary.test.ts keeps it so).
import { dlopen, type FFIFunction } from "bun:ffi";

// glibc names its shared object libc.so.6 ("libc.so" is a linker script);
// musl's loader maps the same name to itself.
const LIBC_NAMES = ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];

type Symbols<S extends Record<string, FFIFunction>> = ReturnType<typeof dlopen<S>>["symbols"];

function open<S extends Record<string, FFIFunction>>(specs: S): Symbols<S> {
  let lastError: unknown;
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, specs).symbols;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`portal: cannot load libc symbols ${Object.keys(specs).join(", ")} (${LIBC_NAMES.join(", ")}): ${String(lastError)}`);
}

/** The symbols of `specs`, loaded the first time the returned function is called. */
export function lazySymbols<const S extends Record<string, FFIFunction>>(specs: S): () => Symbols<S> {
  let loaded: Symbols<S> | null = null;
  return () => (loaded ??= open(specs));
}

/**
 * One symbol that some C libraries lack (a GNU extension, or a newer glibc
 * than the device has): undefined when it is missing, so the caller can say
 * what it cannot do instead of failing to start.
 */
export function optionalSymbol<const S extends FFIFunction>(name: string, spec: S): () => Symbols<{ f: S }>["f"] | undefined {
  let loaded: { value: Symbols<{ f: S }>["f"] | undefined } | null = null;
  return () => {
    if (!loaded) {
      try {
        loaded = { value: (open({ [name]: spec }) as Record<string, unknown>)[name] as Symbols<{ f: S }>["f"] };
      } catch {
        loaded = { value: undefined };
      }
    }
    return loaded.value;
  };
}
