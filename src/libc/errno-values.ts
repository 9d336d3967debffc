// errno values (Linux generic numbering: x86-64 and aarch64 agree) and their
// names. Pure data: the protocol layer uses these without loading FFI.
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EPIPE = 32;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ELOOP = 40;
export const ENOTSOCK = 88;
export const EMSGSIZE = 90;
export const EPROTOTYPE = 91;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
export const ECONNRESET = 104;
export const ECONNREFUSED = 111;
export const EINPROGRESS = 115;
export const ECANCELED = 125;

const NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC", 9: "EBADF",
  10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 17: "EEXIST", 20: "ENOTDIR", 21: "EISDIR",
  22: "EINVAL", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 32: "EPIPE", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS",
  40: "ELOOP", 88: "ENOTSOCK", 90: "EMSGSIZE", 91: "EPROTOTYPE", 95: "EOPNOTSUPP", 98: "EADDRINUSE",
  104: "ECONNRESET", 111: "ECONNREFUSED", 115: "EINPROGRESS",
};

export function errnoName(code: number): string {
  return NAMES[code] ?? `errno ${code}`;
}
