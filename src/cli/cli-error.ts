/** An error the CLI reports as a one-line message (exit code 2), without a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
}
