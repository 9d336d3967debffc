// systemd's socket activation passes through the portal: the caller was the
// activated process (LISTEN_PID was its pid), so the program becomes it.
// sd_listen_fds(3) checks LISTEN_PID against getpid(), which only code
// running in the program's process, right before exec, can know.
const PREFIX = new TextEncoder().encode("LISTEN_PID=");

/** `env` with LISTEN_PID set to `pid`, in place (or appended if it was missing). */
export function withListenPid(env: readonly Uint8Array[], pid: number): Uint8Array[] {
  const entry = new TextEncoder().encode(`LISTEN_PID=${pid}`);
  let replaced = false;
  const out = env.map((item) => {
    if (item.length >= PREFIX.length && PREFIX.every((b, i) => item[i] === b)) {
      replaced = true;
      return entry;
    }
    return item;
  });
  if (!replaced) out.push(entry);
  return out;
}
