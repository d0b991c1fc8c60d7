/**
 * What each kind of relay needs published in DNS for mail it sends as the
 * domain to pass SPF and DKIM, from each service's own documentation. Pure.
 *
 * Only SMTP relays send with an envelope sender on the domain itself (the
 * VERP bounce address, or the From): the domain's own SPF must allow their
 * servers. The HTTP services and Cloudflare Email Service use a return-path
 * of their own (a subdomain of the domain, or one of theirs), so the
 * domain's SPF needs nothing for them; DKIM on the domain is what carries
 * DMARC.
 */
import type { RelayType } from "../model";

/**
 * DKIM keys to look for: `selectors` under `<selector>._domainkey.<at>`.
 * `all`: every selector must have a key (services that rotate between
 * two); otherwise one is enough (services whose selector depends on the
 * account's age). `cnameTo`: the service's key host, when its keys are
 * published as CNAMEs to it.
 */
export type DkimNeed =
  | { kind: "selectors"; at: string; selectors: string[]; all: boolean; cnameTo: string | null; service: string }
  /** The selector is made per account (a date, a token): only the service's own settings show it. */
  | { kind: "per_account"; service: string; example: string };

/** A subdomain the service sends its return-path (envelope sender) from, with what it publishes there. */
export interface ReturnPathNeed {
  name: string;
  service: string;
  /** MX hosts there (the service reads bounces through them), matched by suffix. */
  mx: { suffix: string; publish: string[] } | null;
  /** An `include:` its SPF record there must have. */
  spfInclude: string | null;
  /** Or a CNAME to the service's own name (which answers MX and SPF itself). */
  cname: string | null;
}

/** What one relay needs in DNS; `spfInclude`: an include the domain's own SPF record must have. */
export interface RelayDnsNeeds {
  dkim: DkimNeed | { kind: "unknown_host"; host: string };
  returnPath: ReturnPathNeed | null;
  spfInclude: { include: string; service: string } | null;
}

/** The relay facts this table reads. */
export interface RelayForDns {
  type: RelayType;
  config: Record<string, unknown>;
}

const CLOUDFLARE_MX = ["route1.mx.cloudflare.net", "route2.mx.cloudflare.net", "route3.mx.cloudflare.net"];
/** Email Routing's and Email Service's SPF include (developers.cloudflare.com/email-service/concepts/email-authentication). */
export const CLOUDFLARE_SPF_INCLUDE = "_spf.mx.cloudflare.net";
export { CLOUDFLARE_MX };

/** SMTP submission hosts whose provider documents its SPF include and DKIM selectors. */
const SMTP_PROVIDERS: { hosts: RegExp; service: string; include: string; selectors: string[] }[] = [
  // Google Workspace: include:_spf.google.com; DKIM selector "google" unless the admin chose another.
  { hosts: /^(smtp|smtp-relay|aspmx\.l)\.gmail\.com$|\.google\.com$/, service: "Google Workspace", include: "_spf.google.com", selectors: ["google"] },
  // Microsoft 365: include:spf.protection.outlook.com; DKIM selector1 and selector2 as CNAMEs to the tenant's keys.
  {
    hosts: /^smtp\.office365\.com$|^smtp-mail\.outlook\.com$|\.mail\.protection\.outlook\.com$/,
    service: "Microsoft 365",
    include: "spf.protection.outlook.com",
    selectors: ["selector1", "selector2"],
  },
];

/** The Mailgun sending domain a relay sends through (its `domain` setting), where Mailgun's DKIM and SPF records live. */
export function mailgunDomain(relay: RelayForDns): string | null {
  return typeof relay.config.domain === "string" ? relay.config.domain.toLowerCase() : null;
}

/** The DNS one relay needs to send as `domain` (see the module comment). */
export function relayDnsNeeds(relay: RelayForDns, domain: string): RelayDnsNeeds {
  switch (relay.type) {
    case "cloudflare":
      // Email Service: DKIM cf-bounce._domainkey, return-path cf-bounce.<domain> with Cloudflare's MX and SPF.
      return {
        dkim: { kind: "selectors", at: domain, selectors: ["cf-bounce"], all: true, cnameTo: null, service: "Cloudflare Email Service" },
        returnPath: {
          name: `cf-bounce.${domain}`,
          service: "Cloudflare Email Service",
          mx: { suffix: ".mx.cloudflare.net", publish: CLOUDFLARE_MX },
          spfInclude: CLOUDFLARE_SPF_INCLUDE,
          cname: null,
        },
        spfInclude: null,
      };
    case "resend":
      // Resend: DKIM resend._domainkey; return-path send.<domain>, MX feedback-smtp.<region>.amazonses.com, SPF include:amazonses.com.
      return {
        dkim: { kind: "selectors", at: domain, selectors: ["resend"], all: true, cnameTo: null, service: "Resend" },
        returnPath: {
          name: `send.${domain}`,
          service: "Resend",
          mx: { suffix: ".amazonses.com", publish: ["feedback-smtp.us-east-1.amazonses.com"] },
          spfInclude: "amazonses.com",
          cname: null,
        },
        spfInclude: null,
      };
    case "sendgrid":
      // SendGrid's domain authentication: s1/s2._domainkey CNAMEs to sendgrid.net (its return-path em<n>.<domain> is account-specific).
      return { dkim: { kind: "selectors", at: domain, selectors: ["s1", "s2"], all: true, cnameTo: "sendgrid.net", service: "SendGrid" }, returnPath: null, spfInclude: null };
    case "postmark":
      // Postmark: a dated selector per domain (20230601123456pm._domainkey); return-path pm-bounces.<domain> CNAME pm.mtasv.net.
      return {
        dkim: { kind: "per_account", service: "Postmark", example: "20230601123456pm._domainkey" },
        returnPath: { name: `pm-bounces.${domain}`, service: "Postmark", mx: null, spfInclude: null, cname: "pm.mtasv.net" },
        spfInclude: null,
      };
    case "ses":
      // Amazon SES Easy DKIM: three CNAMEs <token>._domainkey → <token>.dkim.amazonses.com, tokens per identity.
      return { dkim: { kind: "per_account", service: "Amazon SES", example: "<token>._domainkey → <token>.dkim.amazonses.com" }, returnPath: null, spfInclude: null };
    case "mailgun": {
      // Mailgun signs and bounces on its sending domain (often a subdomain): DKIM pic/mx (k1, smtp on older domains), SPF include:mailgun.org.
      const sending = mailgunDomain(relay) ?? domain;
      const dkim: DkimNeed = { kind: "selectors", at: sending, selectors: ["pic", "mx", "k1", "smtp", "krs"], all: false, cnameTo: null, service: "Mailgun" };
      if (sending === domain) return { dkim, returnPath: null, spfInclude: { include: "mailgun.org", service: "Mailgun" } };
      return { dkim, returnPath: { name: sending, service: "Mailgun", mx: null, spfInclude: "mailgun.org", cname: null }, spfInclude: null };
    }
    case "smtp": {
      const host = typeof relay.config.host === "string" ? relay.config.host.toLowerCase() : "";
      const provider = SMTP_PROVIDERS.find((p) => p.hosts.test(host));
      if (!provider) return { dkim: { kind: "unknown_host", host }, returnPath: null, spfInclude: null };
      return {
        dkim: { kind: "selectors", at: domain, selectors: provider.selectors, all: false, cnameTo: null, service: provider.service },
        returnPath: null,
        spfInclude: { include: provider.include, service: provider.service },
      };
    }
  }
}
