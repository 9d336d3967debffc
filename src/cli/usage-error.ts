// A mistake on the command line. Each command prints it the same way, one
// line saying what is wrong and one naming its --help, and exits with the
// one usage code the README gives it (portal-exec 125, portal-spawner and
// portal 2). No CLI framework here: portal-exec loads this on every start.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** "COMMAND: MESSAGE" and "Try 'COMMAND --help'.", two lines. */
export function usageMessage(command: string, message: string): string {
  return `${command}: ${message}\nTry '${command} --help'.\n`;
}

/** The usage message on stderr, then exit `code`. */
export function exitForUsage(command: string, message: string, code: number): never {
  process.stderr.write(usageMessage(command, message));
  process.exit(code);
}
