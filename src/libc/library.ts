// Loading libc symbols. Each wrapper module of this folder declares the
// symbols it calls, with their C signatures, next to the code that calls
// them. Nothing is loaded until a symbol is first called; then every module
// imported so far is loaded in one dlopen (a thin client never imports the
// spawner's namespaces or, without a terminal, the terminal code, so it
// never pays for them). Nothing outside src/libc calls a symbol
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

interface Pending {
  specs: Record<string, FFIFunction>;
  load(symbols: Record<string, unknown>): void;
  fail(error: unknown): void;
}

/** Modules whose symbols are declared but not loaded yet. */
const pending: Pending[] = [];

/**
 * The symbols of `specs`, loaded the first time the returned function is
 * called, together with those of every other module declared by then: one
 * dlopen for all of them costs a fresh client far less than one per module
 * (~50 us each). Modules that name the same symbol with another signature
 * go in a batch of their own; a batch that fails to load (a symbol this C
 * library lacks) is retried module by module, so only the module that needs
 * the missing symbol fails.
 */
export function lazySymbols<const S extends Record<string, FFIFunction>>(specs: S): () => Symbols<S> {
  let loaded: Symbols<S> | null = null;
  let failure: unknown = null;
  pending.push({ specs, load: (symbols) => (loaded = symbols as Symbols<S>), fail: (error) => (failure = error) });
  return () => {
    if (!loaded && failure === null) loadPending();
    if (!loaded) throw failure;
    return loaded;
  };
}

function loadPending(): void {
  while (pending.length > 0) {
    const batch: Record<string, FFIFunction> = {};
    const members: Pending[] = [];
    for (let i = 0; i < pending.length; ) {
      const module = pending[i]!;
      const clash = Object.entries(module.specs).some(([name, spec]) => name in batch && !sameSignature(batch[name]!, spec));
      if (clash) {
        i++;
        continue;
      }
      Object.assign(batch, module.specs);
      members.push(module);
      pending.splice(i, 1);
    }
    try {
      const symbols = open(batch);
      for (const module of members) module.load(symbols);
    } catch {
      // Each on its own: only a module that needs the missing symbol fails, and its error names its symbols.
      for (const module of members) {
        try {
          module.load(open(module.specs));
        } catch (error) {
          module.fail(error);
        }
      }
    }
  }
}

function sameSignature(a: FFIFunction, b: FFIFunction): boolean {
  return JSON.stringify([a.args ?? [], a.returns]) === JSON.stringify([b.args ?? [], b.returns]);
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
