/** The pure rules of incoming mail servers: the envelope rebuilt from a fetched message's headers, and default ports. */
import { describe, expect, it } from "vitest";
import { envelopeSenderOf } from "../../src/incoming/envelope";
import { defaultPort } from "../../src/incoming/settings";
import { parseHeaderBlock } from "../../src/mail/header-block";

const headersOf = (block: string) => parseHeaderBlock(new TextEncoder().encode(`${block}\r\n\r\n`));

describe("envelopeSenderOf", () => {
  it.each([
    ["the Return-Path the last MTA wrote", "Return-Path: <bounces+x@lists.example>\r\nFrom: Ann <ann@example.com>", "bounces+x@lists.example"],
    ["a null Return-Path: a bounce, whose envelope sender is empty", "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example", ""],
    ["a null Return-Path with a space", "Return-Path: < >\r\nFrom: MAILER-DAEMON@mx.example", ""],
    ["no Return-Path: the From address", 'From: "Ann Example" <Ann@Example.COM>', "ann@example.com"],
    ["a Return-Path without brackets", "Return-Path: owner@lists.example\r\nFrom: ann@example.com", "owner@lists.example"],
    ["a Return-Path that is no address: the From", "Return-Path: <not an address>\r\nFrom: ann@example.com", "ann@example.com"],
    ["the first of two Return-Paths (the last MTA's is on top)", "Return-Path: <first@a.example>\r\nReturn-Path: <second@b.example>", "first@a.example"],
    ["neither: empty", "Subject: hello", ""],
    ["a From group without addresses: empty", "From: undisclosed-recipients:;", ""],
  ])("%s", async (_name, block, expected) => {
    expect(envelopeSenderOf(await headersOf(block))).toBe(expected);
  });
});

describe("defaultPort", () => {
  it.each([
    ["imap", "tls", 993],
    ["imap", "starttls", 143],
    ["imap", "none", 143],
    ["pop3", "tls", 995],
    ["pop3", "starttls", 110],
    ["pop3", "none", 110],
  ] as const)("%s with %s: %i", (protocol, security, port) => {
    expect(defaultPort(protocol, security)).toBe(port);
  });
});
