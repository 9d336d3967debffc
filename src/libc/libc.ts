// The one place that loads libc. Every symbol the project calls is declared
// here with its C signature, so a reader can check types against the man page.
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, i64, u64, ptr, i16 } = FFIType;

// glibc names its shared object libc.so.6 ("libc.so" is a linker script);
// musl's loader maps the same name to itself.
const LIBC_NAMES = ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];

const symbols = {
  __errno_location: { args: [], returns: ptr },
  strerror: { args: [i32], returns: ptr },
  socket: { args: [i32, i32, i32], returns: i32 },
  socketpair: { args: [i32, i32, i32, ptr], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  accept4: { args: [i32, ptr, ptr, i32], returns: i32 },
  connect: { args: [i32, ptr, u32], returns: i32 },
  sendmsg: { args: [i32, ptr, i32], returns: i64 },
  recvmsg: { args: [i32, ptr, i32], returns: i64 },
  shutdown: { args: [i32, i32], returns: i32 },
  getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
  poll: { args: [ptr, u64, i32], returns: i32 },
  // fcntl is variadic; three fixed ints is ABI-compatible on x86-64 and aarch64.
  fcntl: { args: [i32, i32, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  read: { args: [i32, ptr, u64], returns: i64 },
  write: { args: [i32, ptr, u64], returns: i64 },
  pipe2: { args: [ptr, i32], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  open: { args: [ptr, i32, u32], returns: i32 },
  access: { args: [ptr, i32], returns: i32 },
  readlink: { args: [ptr, ptr, u64], returns: i64 },
  getpid: { args: [], returns: i32 },
  kill: { args: [i32, i32], returns: i32 },
  signal: { args: [i32, ptr], returns: ptr },
  sigprocmask: { args: [i32, ptr, ptr], returns: i32 },
  sigemptyset: { args: [ptr], returns: i32 },
  sigfillset: { args: [ptr], returns: i32 },
  sigaddset: { args: [ptr, i32], returns: i32 },
  setrlimit: { args: [i32, ptr], returns: i32 },
  getrlimit: { args: [i32, ptr], returns: i32 },
  pidfd_open: { args: [i32, u32], returns: i32 },
  waitid: { args: [i32, i32, ptr, i32], returns: i32 },
  memfd_create: { args: [ptr, u32], returns: i32 },
  posix_spawn: { args: [ptr, ptr, ptr, ptr, ptr, ptr], returns: i32 },
  posix_spawn_file_actions_init: { args: [ptr], returns: i32 },
  posix_spawn_file_actions_destroy: { args: [ptr], returns: i32 },
  posix_spawn_file_actions_adddup2: { args: [ptr, i32, i32], returns: i32 },
  posix_spawn_file_actions_addopen: { args: [ptr, i32, ptr, i32, u32], returns: i32 },
  posix_spawn_file_actions_addchdir_np: { args: [ptr, ptr], returns: i32 },
  posix_spawn_file_actions_addclosefrom_np: { args: [ptr, i32], returns: i32 },
  posix_spawnattr_init: { args: [ptr], returns: i32 },
  posix_spawnattr_destroy: { args: [ptr], returns: i32 },
  posix_spawnattr_setflags: { args: [ptr, i16], returns: i32 },
  posix_spawnattr_setsigdefault: { args: [ptr, ptr], returns: i32 },
  posix_spawnattr_setsigmask: { args: [ptr, ptr], returns: i32 },
} as const;

function load() {
  let lastError: unknown;
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, symbols).symbols;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`portal: cannot load libc (${LIBC_NAMES.join(", ")}): ${String(lastError)}`);
}

export const libc = load();
