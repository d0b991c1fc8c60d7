/**
 * What can go wrong talking to a mailbox, as one error type whose `fault`
 * names the cause. Its message is what the operator sees on the server
 * (`last_error`, the test endpoint): it names the host, the step and the
 * server's words, never a password or a token.
 */

export type MailboxFault = "connect" | "tls" | "auth" | "oauth" | "folder" | "protocol" | "timeout" | "too_large";

/** A mailbox server failed, or refused us; `fault` says at which step. */
export class MailboxError extends Error {
  override name = "MailboxError";
  constructor(
    readonly fault: MailboxFault,
    message: string,
  ) {
    super(message);
  }
}

/** Any error as the text shown to the operator (a MailboxError's own, else its class and message). */
export function mailboxErrorText(error: unknown): string {
  if (error instanceof MailboxError) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
