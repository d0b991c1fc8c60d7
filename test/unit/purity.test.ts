/**
 * The pure modules load in plain Node, with Node's types only (this folder
 * is type-checked by `tsc -p test/unit`): none of them may import a binding,
 * `cloudflare:*`, the database client or the Worker's environment. A module
 * that starts to fails here, and in the type check, before anything runs.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as aliasRules from "../../src/aliases/rules";
import * as consoleTrace from "../../src/console/trace";
import * as decision from "../../src/decision";
import * as deliverySettlement from "../../src/deliveries/settle";
import * as webhookUrl from "../../src/deliveries/webhook-url";
import * as xmlrpc from "../../src/deliveries/xmlrpc";
import * as dns from "../../src/dns";
import * as domainCheckProviders from "../../src/domain-check/providers";
import * as domainCheckRecords from "../../src/domain-check/records";
import * as domainCheckRules from "../../src/domain-check/rules";
import * as domainCheckSpf from "../../src/domain-check/spf";
import * as cloudflareEvents from "../../src/events/providers/cloudflare";
import * as mailgunEvents from "../../src/events/providers/mailgun";
import * as postmarkEvents from "../../src/events/providers/postmark";
import * as resendEvents from "../../src/events/providers/resend";
import * as sendgridEvents from "../../src/events/providers/sendgrid";
import * as sesEvents from "../../src/events/providers/ses";
import * as eventTypes from "../../src/events/types";
import * as hash from "../../src/hash";
import * as bounceReport from "../../src/inbound/bounce-report";
import * as inboundMail from "../../src/inbound/inbound-mail";
import * as route from "../../src/inbound/route";
import * as incomingEnvelope from "../../src/incoming/envelope";
import * as incomingSettings from "../../src/incoming/settings";
import * as address from "../../src/mail/address";
import * as bytes from "../../src/mail/bytes";
import * as headerBlock from "../../src/mail/header-block";
import * as messageId from "../../src/mail/message-id";
import * as mimeHeader from "../../src/mail/mime-header";
import * as ownAddress from "../../src/mail/own-address";
import * as parse from "../../src/mail/parse";
import * as verp from "../../src/mail/verp";
import * as compose from "../../src/outbound/compose";
import * as plan from "../../src/outbound/plan";
import * as refusals from "../../src/outbound/refusals";
import * as relaySettings from "../../src/outbound/relays/settings";
import * as smtpProtocol from "../../src/outbound/relays/smtp-protocol";
import * as relayTestMessage from "../../src/outbound/relays/test-message";
import * as rewriteFrom from "../../src/outbound/rewrite-from";
import * as selectRelay from "../../src/outbound/select-relay";
import * as sendSettlement from "../../src/outbound/settle";
import * as backoff from "../../src/queue/backoff";

const modules = {
  "aliases/rules": aliasRules,
  "console/trace": consoleTrace,
  decision,
  dns,
  "domain-check/providers": domainCheckProviders,
  "domain-check/records": domainCheckRecords,
  "domain-check/rules": domainCheckRules,
  "domain-check/spf": domainCheckSpf,
  "deliveries/settle": deliverySettlement,
  "deliveries/webhook-url": webhookUrl,
  "deliveries/xmlrpc": xmlrpc,
  "events/providers/cloudflare": cloudflareEvents,
  "events/providers/mailgun": mailgunEvents,
  "events/providers/postmark": postmarkEvents,
  "events/providers/resend": resendEvents,
  "events/providers/sendgrid": sendgridEvents,
  "events/providers/ses": sesEvents,
  "events/types": eventTypes,
  hash,
  "inbound/bounce-report": bounceReport,
  "inbound/inbound-mail": inboundMail,
  "inbound/route": route,
  "incoming/envelope": incomingEnvelope,
  "incoming/settings": incomingSettings,
  "mail/address": address,
  "mail/bytes": bytes,
  "mail/header-block": headerBlock,
  "mail/message-id": messageId,
  "mail/mime-header": mimeHeader,
  "mail/own-address": ownAddress,
  "mail/parse": parse,
  "mail/verp": verp,
  "outbound/compose": compose,
  "outbound/plan": plan,
  "outbound/refusals": refusals,
  "outbound/relays/settings": relaySettings,
  "outbound/relays/smtp-protocol": smtpProtocol,
  "outbound/relays/test-message": relayTestMessage,
  "outbound/rewrite-from": rewriteFrom,
  "outbound/select-relay": selectRelay,
  "outbound/settle": sendSettlement,
  "queue/backoff": backoff,
};

describe("pure modules", () => {
  it.each(Object.entries(modules))("%s loads in Node and imports no binding", (name, module) => {
    expect(Object.keys(module).length).toBeGreaterThan(0);
    const source = readFileSync(fileURLToPath(new URL(`../../src/${name}${name === "inbound/bounce-report" ? "/index" : ""}.ts`, import.meta.url)), "utf8");
    expect(source).not.toMatch(/from "cloudflare:|from "[./]*(?:env|db\/client)"|from "drizzle-orm"/);
  });
});
