// Linux constants shared by x86-64 and aarch64 (the generic ABI values).
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SO_TYPE = 3;
export const SO_SNDBUF = 7;
export const SO_SNDTIMEO = 21;
export const SO_RCVBUF = 8;
export const SO_PEERCRED = 17;
export const SO_ACCEPTCONN = 30;
export const SO_DOMAIN = 39;
export const SCM_RIGHTS = 1;

export const MSG_TRUNC = 0x20;
export const MSG_CTRUNC = 0x08;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;

export const SHUT_WR = 1;

export const F_DUPFD_CLOEXEC = 1030;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const MFD_CLOEXEC = 1;

export const P_PIDFD = 3;
export const WEXITED = 4;
export const WNOHANG = 1;
export const CLD_EXITED = 1;
export const CLD_KILLED = 2;
export const CLD_DUMPED = 3;

export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const RLIMIT_CORE = 4;
export const RLIMIT_NOFILE = 7;

// glibc posix_spawnattr flags.
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSID = 0x80;

/** The kernel's per-message limit on SCM_RIGHTS fds (SCM_MAX_FD). */
export const SCM_MAX_FD = 253;
