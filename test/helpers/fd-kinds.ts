// One fd of every kind a client might pass: both pipe ends, a socket, a
// memfd, an O_PATH fd, a directory, /dev/null and an eventfd. Each comes with
// whatever else had to be opened to make it, so the caller closes all of it
// (the kernel keeps its own reference to anything still in flight).
import type { OwnedFd } from "../../src/libc/owned-fd.ts";
import { eventFd, memFd, openFile, pipe } from "../../src/libc/file.ts";
import { unixSocketPair } from "../../src/libc/socket.ts";
import { O_DIRECTORY, O_PATH, O_RDONLY, O_RDWR, SOCK_STREAM } from "../../src/libc/constants.ts";

export const FD_KINDS = ["pipe-read", "pipe-write", "socket", "memfd", "o-path", "directory", "dev-null", "eventfd"] as const;
export type FdKind = (typeof FD_KINDS)[number];

export interface MadeFd {
  /** The fd to send. */
  fd: number;
  /** Everything opened for it, `fd` included: close all of these after sending. */
  owned: OwnedFd[];
}

const open = openFile;

export function makeFd(kind: FdKind): MadeFd {
  switch (kind) {
    case "pipe-read":
    case "pipe-write": {
      const [read, write] = pipe();
      return { fd: kind === "pipe-read" ? read.fd : write.fd, owned: [read, write] };
    }
    case "socket": {
      const [a, b] = unixSocketPair(SOCK_STREAM);
      return { fd: a.fd, owned: [a, b] };
    }
    case "memfd": {
      const fd = memFd("portal-fuzz");
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
      const fd = eventFd();
      return { fd: fd.fd, owned: [fd] };
    }
  }
}
