/**
 * Which relay types take event webhooks at `POST /hooks/relays/{id}`, and
 * how each is verified and read. SMTP relays report by DSN and by their
 * answer at send time; Cloudflare by its event queue.
 */
import type { RelayType } from "../../model";
import type { ProviderHook } from "../types";
import { mailgunHook } from "./mailgun";
import { postmarkHook } from "./postmark";
import { resendHook } from "./resend";
import { sendgridHook } from "./sendgrid";
import { sesHook } from "./ses";

export const PROVIDER_HOOKS: Partial<Record<RelayType, ProviderHook>> = {
  postmark: postmarkHook,
  resend: resendHook,
  ses: sesHook,
  mailgun: mailgunHook,
  sendgrid: sendgridHook,
};
