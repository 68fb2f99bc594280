// Things worth telling the user that do not stop a command.

export function warn(message: string): void {
  process.stderr.write(`redistap: warning: ${message}\n`);
}

export function warnTrailing(bytes: number): void {
  if (bytes > 0) warn(`${bytes} bytes after the end of the RDB were ignored (e.g. a replication EOF mark)`);
}
