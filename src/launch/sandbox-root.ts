// The file system a sandboxed program sees (portal-spawner --sandbox): an
// empty, read-only root holding only what its client granted, each grant an
// fd the client opened itself and the spawner checked against the client's
// own rights; a minimal /dev (null, zero, full, random, urandom, tty and a
// pts of its own); and a /proc of its own pid namespace. Built by the
// sandbox's init (supervisor.ts), as root, in its own mount namespace,
// under a tmpfs, while the old root is still in place (a helper started
// now still finds its runtime); entered last.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { OwnedFd } from "../libc/owned-fd.ts";
import {
  attachTree, enterNamespace, mount, openNamespace, pivotRoot, setMountAttributes, tryCloneTree, unmount, unshareNamespaces,
} from "../libc/namespace.ts";
import { readLinkAt } from "../libc/file.ts";
import {
  CLONE_NEWNS, MNT_DETACH, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE,
  MS_RDONLY, MS_REC, MS_REMOUNT,
} from "../libc/constants.ts";

export interface SandboxBind {
  /** The granted object, as an fd in the building process. */
  fd: number;
  /** Where the program sees it (absolute, normalised, from the GRANT record). */
  dest: string;
  /** "ro", "rw", or "symlink" (a symbolic link re-created with the same target). */
  kind: "ro" | "rw" | "symlink";
}

/** Where the root is built, on a tmpfs mounted over one of these (in our mount namespace only). */
const BASES = ["/mnt", "/run", "/tmp", "/media", "/srv"];

const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];

/**
 * Before anything else changes our mount namespace: a detached copy of each
 * granted object's mount, taken through the client's own fd, so the program
 * sees exactly the object the client opened (a path would name another file
 * where the client's view and ours differ, as from outside an overlay). The
 * kernel copies a mount only from inside its namespace: for a client in
 * another one, we step into the client's mount namespace for the copies,
 * then back.
 */
export function cloneGrantTrees(binds: readonly SandboxBind[], clientNamespace: OwnedFd | null): Map<number, OwnedFd> {
  const trees = new Map<number, OwnedFd>();
  const foreign: SandboxBind[] = [];
  for (const bind of binds) {
    if (bind.kind === "symlink") continue;
    const tree = tryCloneTree(bind.fd);
    if (typeof tree === "number") foreign.push(bind);
    else trees.set(bind.fd, tree);
  }
  if (foreign.length === 0) return trees;
  if (!clientNamespace) throw new Error(`the grant at '${foreign[0]!.dest}' is in another mount namespace than the spawner's, and the client's cannot be entered`);
  using home = openNamespace("mnt");
  // setns into a mount namespace wants a thread with a file-system context of its own: unsharing gives it one.
  unshareNamespaces(CLONE_NEWNS);
  enterNamespace(clientNamespace, CLONE_NEWNS);
  try {
    for (const bind of foreign) {
      const tree = tryCloneTree(bind.fd);
      if (typeof tree === "number") throw new Error(`cannot take the grant at '${bind.dest}' from the client's mount namespace (errno ${-tree})`);
      trees.set(bind.fd, tree);
    }
  } finally {
    enterNamespace(home, CLONE_NEWNS);
  }
  return trees;
}

/** The program's root while it is being built: a tmpfs, in a fresh mount namespace of this thread. */
export class SandboxRoot {
  readonly path: string;

  /** `keep`: paths still needed before the root is entered (the exec step's own files), which the tmpfs must not hide. */
  constructor(keep: readonly string[]) {
    // Nothing mounted from here on reaches the host.
    mount(null, "/", null, MS_REC | MS_PRIVATE);
    const hides = (dir: string) => keep.some((path) => path === dir || path.startsWith(`${dir}/`));
    const base = BASES.find((dir) => existsSync(dir) && !hides(dir));
    if (!base) throw new Error(`no directory to build the sandbox in: each of ${BASES.join(", ")} is missing or holds the spawner`);
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    this.path = `${base}/root`;
    mkdirSync(this.path, { mode: 0o755 });
    // A mount point of its own: to be made read-only, and pivoted to.
    mount(this.path, this.path, null, MS_BIND);
  }

  /**
   * The granted objects, in order. A later one may sit inside an earlier
   * one, but only where its place already exists: making it would create a
   * directory or file in the caller's own tree (we are root here).
   */
  bindGrants(binds: readonly SandboxBind[], trees: ReadonlyMap<number, OwnedFd>): void {
    const bound: string[] = [];
    for (const bind of binds) {
      const target = `${this.path}${bind.dest}`;
      const inside = bound.find((dest) => bind.dest.startsWith(`${dest}/`));
      if (inside && (bind.kind === "symlink" || !existsSync(target))) {
        throw new Error(`cannot place the grant at '${bind.dest}' inside the grant at '${inside}': nothing is there to mount on`);
      }
      bound.push(bind.dest);
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      if (bind.kind === "symlink") {
        symlinkSync(Buffer.from(readLinkAt(bind.fd)), target);
        continue;
      }
      makeMountPoint(target, fstatSync(bind.fd).isDirectory());
      attachTree(trees.get(bind.fd)!, target);
      setMountAttributes(target, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (bind.kind === "ro" ? MOUNT_ATTR_RDONLY : 0));
    }
  }

  /** /dev with a few devices and a pts instance of its own, and /proc of our pid namespace. */
  mountSystemDirectories(): void {
    const dev = `${this.path}/dev`;
    mkdirSync(dev, { recursive: true, mode: 0o755 });
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755");
    for (const name of DEVICES) {
      if (!existsSync(`/dev/${name}`)) continue;
      makeMountPoint(`${dev}/${name}`, false);
      mount(`/dev/${name}`, `${dev}/${name}`, null, MS_BIND);
      setMountAttributes(`${dev}/${name}`, MOUNT_ATTR_NOSUID);
    }
    for (const [link, target] of [["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], ["stdout", "/proc/self/fd/1"], ["stderr", "/proc/self/fd/2"], ["ptmx", "pts/ptmx"]]) {
      symlinkSync(target!, `${dev}/${link}`);
    }
    mkdirSync(`${dev}/shm`, { mode: 0o1777 });
    mkdirSync(`${dev}/pts`, { mode: 0o755 });
    mount("devpts", `${dev}/pts`, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");

    const proc = `${this.path}/proc`;
    mkdirSync(proc, { recursive: true, mode: 0o555 });
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    // What could change the machine rather than the process stays read-only, as bwrap does it.
    for (const name of ["sys", "sysrq-trigger", "irq", "bus"]) {
      const path = `${proc}/${name}`;
      if (!existsSync(path)) continue;
      mount(path, path, null, MS_BIND | MS_REC);
      setMountAttributes(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    }
  }

  /** The pts multiplexer of the sandbox's own devpts instance (for a terminal made inside it). */
  get ptmx(): string {
    return `${this.path}/dev/pts/ptmx`;
  }

  /**
   * The program's root becomes / (read-only: nothing can be made outside
   * the grants) and the old root is let go of. Every process of this mount
   * namespace whose root was the old one moves along: a helper started
   * from the old root keeps running.
   */
  enter(): void {
    mount(null, this.path, null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV);
    process.chdir(this.path);
    // pivot_root(".", "."): the old root ends up stacked on the new one; detaching it leaves the new one.
    pivotRoot(".", ".");
    unmount(".", MNT_DETACH);
    process.chdir("/");
  }
}

function makeMountPoint(path: string, directory: boolean): void {
  if (existsSync(path)) return;
  if (directory) mkdirSync(path, { recursive: true, mode: 0o755 });
  else closeSync(openSync(path, "w", 0o444));
}
