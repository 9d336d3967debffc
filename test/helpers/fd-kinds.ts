// One fd of every kind a client might pass: both pipe ends, a socket, a
// memfd, an O_PATH fd, a directory, /dev/null and an eventfd. Each comes with
// whatever else had to be opened to make it, so the caller closes all of it
// (the kernel keeps its own reference to anything still in flight).
import { ptr } from "bun:ffi";
import { libc } from "../../src/libc/libc.ts";
import { check } from "../../src/libc/errno.ts";
import { OwnedFd } from "../../src/libc/owned-fd.ts";
import {
  AF_UNIX, EFD_CLOEXEC, MFD_CLOEXEC, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY, O_RDWR, SOCK_CLOEXEC, SOCK_STREAM,
} from "../../src/libc/constants.ts";

export const FD_KINDS = ["pipe-read", "pipe-write", "socket", "memfd", "o-path", "directory", "dev-null", "eventfd"] as const;
export type FdKind = (typeof FD_KINDS)[number];

export interface MadeFd {
  /** The fd to send. */
  fd: number;
  /** Everything opened for it, `fd` included: close all of these after sending. */
  owned: OwnedFd[];
}

function open(path: string, flags: number): OwnedFd {
  return new OwnedFd(check(libc.open(ptr(Buffer.from(`${path}\0`)), flags | O_CLOEXEC, 0), "open", path));
}

function pair(make: (out: Int32Array) => number, what: string): [OwnedFd, OwnedFd] {
  const out = new Int32Array(2);
  check(make(out), what);
  return [new OwnedFd(out[0]!), new OwnedFd(out[1]!)];
}

export function makeFd(kind: FdKind): MadeFd {
  switch (kind) {
    case "pipe-read":
    case "pipe-write": {
      const [read, write] = pair((out) => libc.pipe2(ptr(out), O_CLOEXEC), "pipe2");
      return { fd: kind === "pipe-read" ? read.fd : write.fd, owned: [read, write] };
    }
    case "socket": {
      const [a, b] = pair((out) => libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptr(out)), "socketpair");
      return { fd: a.fd, owned: [a, b] };
    }
    case "memfd": {
      const fd = new OwnedFd(check(libc.memfd_create(ptr(Buffer.from("portal-fuzz\0")), MFD_CLOEXEC), "memfd_create"));
      return { fd: fd.fd, owned: [fd] };
    }
    case "o-path": {
      const fd = open("/etc/passwd", O_PATH);
      return { fd: fd.fd, owned: [fd] };
    }
    case "directory": {
      const fd = open("/", O_RDONLY | O_DIRECTORY);
      return { fd: fd.fd, owned: [fd] };
    }
    case "dev-null": {
      const fd = open("/dev/null", O_RDWR);
      return { fd: fd.fd, owned: [fd] };
    }
    case "eventfd": {
      const fd = new OwnedFd(check(libc.eventfd(0, EFD_CLOEXEC), "eventfd"));
      return { fd: fd.fd, owned: [fd] };
    }
  }
}
