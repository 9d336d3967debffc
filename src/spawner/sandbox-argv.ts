// The per-request sandbox (`portal-spawner --sandbox`): every program runs
// under bubblewrap in an empty root where nothing is visible but what its
// client granted, each grant an fd the client opened itself (pola-run's
// model: authority flows only from what the caller can open). Besides the
// grants the sandbox has a minimal /dev (null, zero, full, random, urandom,
// tty), its own /proc and pid namespace, and no /tmp; the network is shared.
const encoder = new TextEncoder();

export interface SandboxGrant {
  /**
   * A path that leads bwrap to the granted object: a /proc/PID/fd/N magic
   * link. bwrap's own --bind-fd is no use here: it turns the fd back into a
   * path by readlink, which names a different file when the client's and the
   * spawner's mount namespaces differ (a client outside the overlay).
   */
  source: Uint8Array;
  dest: Uint8Array;
  writable: boolean;
}

export interface SandboxSpec {
  /** bwrap's path in the spawner's view. */
  bwrap: Uint8Array;
  grants: readonly SandboxGrant[];
  /** The client's cwd: kept when it lies inside a grant, else the program starts in /. */
  cwd: Uint8Array | null;
  /** The program and its arguments, looked up inside the sandbox. */
  argv: readonly Uint8Array[];
}

export function sandboxArgv(spec: SandboxSpec): Uint8Array[] {
  const text = (s: string) => encoder.encode(s);
  const argv: Uint8Array[] = [
    spec.bwrap,
    ...["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent"].map(text),
    ...["--dev", "/dev", "--proc", "/proc"].map(text),
  ];
  for (const grant of spec.grants) argv.push(text(grant.writable ? "--bind" : "--ro-bind"), grant.source, grant.dest);
  const cwd = spec.cwd && spec.grants.some((g) => isAtOrBelow(spec.cwd!, g.dest)) ? spec.cwd : text("/");
  argv.push(text("--chdir"), cwd, text("--"), ...spec.argv);
  return argv;
}

function isAtOrBelow(path: Uint8Array, dir: Uint8Array): boolean {
  if (path.length < dir.length || !dir.every((b, i) => path[i] === b)) return false;
  return path.length === dir.length || path[dir.length] === 0x2f;
}
