// The file system a sandboxed program sees (portal-spawner --sandbox): an
// empty, read-only root holding only what its client granted, each grant an
// fd the client opened itself and the spawner checked against the client's
// own rights; a minimal /dev (null, zero, full, random, urandom, tty and a
// pts of its own); and a /proc of its own pid namespace. Built by the
// sandbox's init (supervisor.ts), as root, in its own mount namespace,
// under a tmpfs, while the old root is still in place (a helper started
// now still finds its runtime); entered last.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, symlinkSync } from "node:fs";
import type { OwnedFd } from "../libc/owned-fd.ts";
import {
  attachTreeAt, enterNamespace, mount, openNamespace, pivotRoot, setMountAttributes, setTreeAttributes, tryCloneTree, unmount, unshareNamespaces,
} from "../libc/namespace.ts";
import { openFile, readLinkAt } from "../libc/file.ts";
import { makeSymlinkAt, tryMakeDirectoryAt, tryOpenBeneath } from "../libc/resolve-beneath.ts";
import { SystemError } from "../libc/system-error.ts";
import { EEXIST, ELOOP, ENOENT, ENOTDIR } from "../libc/errno-values.ts";
import {
  CLONE_NEWNS, MNT_DETACH, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE,
  MS_RDONLY, MS_REC, MS_REMOUNT, O_CREAT, O_DIRECTORY, O_EXCL, O_PATH, O_WRONLY,
} from "../libc/constants.ts";

export interface SandboxBind {
  /** The granted object, as an fd in the building process. */
  fd: number;
  /** Where the program sees it (absolute, normalised, from the GRANT record): its bytes as a latin1 string. */
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
   * The granted objects, in order, each mounted on the very file or
   * directory found beneath the root with no symbolic link on the way (the
   * trees inside earlier grants are the client's, and so are their links:
   * followed as root, a link could put a mount anywhere, even under the
   * files the exec step is about to load). A later grant may sit inside an
   * earlier one, but only where its place already exists: making it would
   * create a directory or file in the caller's own tree (we are root here).
   * A granted symbolic link is re-created with its target's text, which
   * the program resolves in the sandbox. Call after mountSystemDirectories,
   * so that a grant under /dev lands in the sandbox's own /dev.
   */
  bindGrants(binds: readonly SandboxBind[], trees: ReadonlyMap<number, OwnedFd>): void {
    using root = openFile(this.path, O_PATH | O_DIRECTORY);
    const placed: SandboxBind[] = [];
    for (const bind of binds) {
      const shown = display(bind.dest);
      const link = placed.find((p) => p.kind === "symlink" && (bind.dest === p.dest || bind.dest.startsWith(`${p.dest}/`)));
      if (link) throw new Error(`cannot place the grant at '${shown}': '${display(link.dest)}' is a symbolic link in the sandbox`);
      const outer = placed.find((p) => p.kind !== "symlink" && bind.dest.startsWith(`${p.dest}/`));
      const components = bind.dest.slice(1).split("/").map((part) => Buffer.from(part, "latin1"));
      const name = components.pop()!;
      using dir = directoryBeneath(root, components, !outer, shown);
      placed.push(bind);
      if (bind.kind === "symlink") {
        if (outer) throw new Error(`cannot place the symbolic link at '${shown}' inside the grant at '${display(outer.dest)}': it would be made in the caller's own tree`);
        try {
          makeSymlinkAt(readLinkAt(bind.fd), dir, name);
        } catch (error) {
          if ((error as SystemError).errno === EEXIST) throw new Error(`cannot place the symbolic link at '${shown}': something is there already`);
          throw error;
        }
        continue;
      }
      const stat = fstatSync(bind.fd);
      using target = mountPoint(dir, name, stat.isDirectory(), !outer, shown);
      const tree = trees.get(bind.fd)!;
      // A device node works only where the mount allows devices: only a read-write grant of the node itself
      // (a read-only mount would not stop writes to a device).
      const device = bind.kind === "rw" && (stat.isCharacterDevice() || stat.isBlockDevice());
      setTreeAttributes(tree, MOUNT_ATTR_NOSUID | (device ? 0 : MOUNT_ATTR_NODEV) | (bind.kind === "ro" ? MOUNT_ATTR_RDONLY : 0));
      attachTreeAt(tree, target, shown);
    }
  }

  /** /dev with a few devices and a pts instance of its own, and /proc of our pid namespace. */
  mountSystemDirectories(): void {
    const dev = `${this.path}/dev`;
    mkdirSync(dev, { recursive: true, mode: 0o755 });
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755");
    for (const name of DEVICES) {
      if (!existsSync(`/dev/${name}`)) continue;
      closeSync(openSync(`${dev}/${name}`, "w", 0o444));
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

/**
 * The directory `components` name beneath `root`, as an O_PATH fd, made
 * (0755) where missing when `mayMake`; never through a symbolic link.
 */
function directoryBeneath(root: OwnedFd, components: readonly Uint8Array[], mayMake: boolean, shown: string): OwnedFd {
  let dir = opened(tryOpenBeneath(root, ".", O_PATH | O_DIRECTORY), shown);
  for (const part of components) {
    let next = tryOpenBeneath(dir, part, O_PATH | O_DIRECTORY);
    if (next === -ENOENT && mayMake) {
      const made = tryMakeDirectoryAt(dir, part, 0o755);
      if (made < 0 && made !== -EEXIST) {
        dir.close();
        throw new SystemError("mkdirat", -made, shown);
      }
      next = tryOpenBeneath(dir, part, O_PATH | O_DIRECTORY);
    }
    dir.close();
    dir = opened(next, shown);
  }
  return dir;
}

/** The place `name` in `dir` to mount on, made (a directory, or an empty file) where missing when `mayMake`. */
function mountPoint(dir: OwnedFd, name: Uint8Array, directory: boolean, mayMake: boolean, shown: string): OwnedFd {
  let target = tryOpenBeneath(dir, name, O_PATH);
  if (target === -ENOENT && mayMake) {
    if (directory) {
      const made = tryMakeDirectoryAt(dir, name, 0o755);
      if (made < 0 && made !== -EEXIST) throw new SystemError("mkdirat", -made, shown);
    } else {
      const made = tryOpenBeneath(dir, name, O_CREAT | O_EXCL | O_WRONLY, 0o444);
      if (typeof made === "number" && made !== -EEXIST) throw new SystemError("openat2", -made, shown);
      if (typeof made !== "number") made.close();
    }
    target = tryOpenBeneath(dir, name, O_PATH);
  }
  return opened(target, shown);
}

/** A destination (bytes as a latin1 string) as the user reads it. */
function display(dest: string): string {
  return new TextDecoder().decode(Buffer.from(dest, "latin1"));
}

function opened(fd: OwnedFd | number, shown: string): OwnedFd {
  if (typeof fd !== "number") return fd;
  if (fd === -ELOOP) throw new Error(`cannot place the grant at '${shown}': a symbolic link is in the way (the sandbox never follows one while it is built)`);
  if (fd === -ENOENT) throw new Error(`cannot place the grant at '${shown}' inside an earlier grant: nothing is there to mount on`);
  if (fd === -ENOTDIR) throw new Error(`cannot place the grant at '${shown}': one of its directories is not a directory`);
  throw new SystemError("openat2", -fd, shown);
}
