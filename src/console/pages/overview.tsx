/**
 * The Overview (`/`): today and the last 7 days in and out, by outcome and
 * reason, queue backlog, relays' daily use against their limits, and what
 * is failing now, as small server-drawn SVG charts with their numbers in
 * text beside them. Read from `GET /v1/overview`, `/v1/relays` and
 * `/v1/incoming-servers`.
 */
import { apiGet } from "../api-client";
import { type Bar, StatusBadge, SvgBars, SvgColumns, Table, Timestamp, type Tone } from "../components";
import { Page, render } from "../layout";
import type { ConsoleApp } from "../session";

interface Side {
  total: number;
  by_status: Record<string, number>;
  by_reason?: Record<string, number>;
}

interface Overview {
  days: { date: string; in: Required<Side>; out: Side; events: Record<string, number> }[];
  relays_today: { relay_id: string; count: number }[];
  backlog: { queued: number; deliveries: number; overdue: number };
  retrying: {
    count: number;
    items: { id: string; message_id: string; type: string; target: string | null; attempts: number; last_error: string | null; next_attempt_at: string | null }[];
  };
  relay_errors: { relay_id: string; failures: number; last_result: string; last_error: string | null; last_at: string }[];
}

interface Relay {
  id: string;
  name: string;
  type: string;
  daily_limit: number | null;
  enabled: boolean;
}

interface IncomingServer {
  id: string;
  name: string;
  host: string;
  enabled: boolean;
  status: { last_fetch_at: string | null; last_error: string | null; last_error_at: string | null };
}

const REFUSALS = ["no_route", "catchall_direct", "contact_policy", "alias_invalid", "alias_disabled", "sender_loop", "hop_limit", "too_large"];
const LOOPS = ["sender_loop", "hop_limit", "loop_reply"];

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const label = (key: string) => key.replaceAll("_", " ");

/** An incoming server whose last fetch failed (its error is newer than its last good fetch). */
function erroring(server: IncomingServer): boolean {
  const { last_error, last_error_at, last_fetch_at } = server.status;
  if (!last_error) return false;
  return !last_fetch_at || !last_error_at || Date.parse(last_error_at) >= Date.parse(last_fetch_at);
}

/** Adds the Overview (`/`, once signed in). */
export function register(app: ConsoleApp): void {
  app.get("/", async (c) => {
    const [overview, relays, servers] = await Promise.all([
      apiGet<Overview>(c, "/v1/overview"),
      apiGet<{ items: Relay[] }>(c, "/v1/relays"),
      apiGet<{ items: IncomingServer[] }>(c, "/v1/incoming-servers?limit=200"),
    ]);
    const days = overview.days;
    const today = days.at(-1)!;
    const week = (pick: (d: Overview["days"][number]) => number) => sum(days.map(pick));
    const reasonIn = (d: Overview["days"][number], reasons: string[]) => sum(reasons.map((r) => d.in.by_reason[r] ?? 0));
    const rows: [string, (d: Overview["days"][number]) => number][] = [
      ["Received", (d) => d.in.total],
      ["Accepted", (d) => d.in.by_status.accepted ?? 0],
      ["Refused", (d) => d.in.by_status.refused ?? 0],
      ["Loops refused or dropped", (d) => reasonIn(d, LOOPS)],
      ["Dropped", (d) => d.in.by_status.dropped ?? 0],
      ["Bounce reports received", (d) => d.in.by_reason.bounce ?? 0],
      ["Sent (messages)", (d) => d.out.total],
      ["Delivered (recipients)", (d) => d.events.delivered ?? 0],
      ["Bounced (recipients)", (d) => d.events.bounced ?? 0],
      ["Complaints", (d) => d.events.complained ?? 0],
      ["Unsubscribed", (d) => d.events.unsubscribed ?? 0],
    ];
    const refusalBars: Bar[] = REFUSALS.map((reason) => ({ label: label(reason), value: week((d) => d.in.by_reason[reason] ?? 0), tone: "bad" as Tone })).filter(
      (b) => b.value > 0,
    );
    const eventBars: Bar[] = (
      [
        ["delivered", "ok"],
        ["deferred", "warn"],
        ["bounced", "bad"],
        ["complained", "bad"],
        ["failed", "bad"],
        ["unsubscribed", "warn"],
      ] as [string, Tone][]
    )
      .map(([type, tone]) => ({ label: type, value: week((d) => d.events[type] ?? 0), tone }))
      .filter((b) => b.value > 0);
    const used = new Map(overview.relays_today.map((r) => [r.relay_id, r.count]));
    const relayBars: Bar[] = relays.items.map((relay) => {
      const count = used.get(relay.id) ?? 0;
      const limit = relay.daily_limit;
      const share = limit ? count / limit : 0;
      return {
        label: relay.name,
        value: count,
        max: limit,
        tone: share >= 1 ? "bad" : share >= 0.8 ? "warn" : "ok",
        text: limit ? `${count} / ${limit}` : `${count} (no limit)`,
      };
    });
    const relayName = new Map(relays.items.map((r) => [r.id, r.name]));
    const failingServers = servers.items.filter((s) => s.enabled && erroring(s));
    const failing = overview.retrying.count + overview.relay_errors.length + failingServers.length;
    const labels = days.map((d) => d.date.slice(5));

    return render(
      c,
      <Page title="Overview" active="/" session={c.get("session")}>
        <h1>Overview</h1>
        <div class="cards stats">
          <section class="card" aria-labelledby="today-in">
            <h2 id="today-in">Today in</h2>
            <p class="big">{today.in.total}</p>
            <p>
              {today.in.by_status.accepted ?? 0} accepted · {today.in.by_status.refused ?? 0} refused · {today.in.by_status.dropped ?? 0} dropped
            </p>
          </section>
          <section class="card" aria-labelledby="today-out">
            <h2 id="today-out">Today out</h2>
            <p class="big">{today.out.total}</p>
            <p>
              {Object.entries(today.out.by_status)
                .map(([status, n]) => `${n} ${label(status)}`)
                .join(" · ") || "nothing sent"}
            </p>
          </section>
          <section class="card" aria-labelledby="backlog">
            <h2 id="backlog">Queue backlog</h2>
            <p class="big">{overview.backlog.queued + overview.backlog.deliveries}</p>
            <p>
              {overview.backlog.queued} messages and {overview.backlog.deliveries} deliveries due
              {overview.backlog.overdue ? (
                <>
                  {" "}
                  · <StatusBadge status={`${overview.backlog.overdue} overdue`} tone="bad" />
                </>
              ) : null}
            </p>
          </section>
          <section class="card" aria-labelledby="failing-count">
            <h2 id="failing-count">Failing now</h2>
            <p class="big">{failing}</p>
            <p>{failing ? <a href="#failing">See what is failing</a> : "Nothing is failing."}</p>
          </section>
        </div>

        <h2>Last 7 days</h2>
        <div class="cards">
          <div>
            <h3>Mail in per day</h3>
            <SvgColumns
              title="Mail in per day, last 7 days, by outcome"
              labels={labels}
              series={[
                { name: "accepted", tone: "ok", values: days.map((d) => d.in.by_status.accepted ?? 0) },
                { name: "refused", tone: "bad", values: days.map((d) => d.in.by_status.refused ?? 0) },
                { name: "dropped", tone: "neutral", values: days.map((d) => d.in.by_status.dropped ?? 0) },
              ]}
            />
          </div>
          <div>
            <h3>Mail out per day</h3>
            <SvgColumns
              title="Mail out per day, last 7 days, by status"
              labels={labels}
              series={[
                { name: "sent", tone: "ok", values: days.map((d) => d.out.by_status.sent ?? 0) },
                { name: "queued", tone: "info", values: days.map((d) => d.out.by_status.queued ?? 0) },
                { name: "bounced", tone: "warn", values: days.map((d) => d.out.by_status.bounced ?? 0) },
                { name: "failed", tone: "bad", values: days.map((d) => d.out.by_status.failed ?? 0) },
              ]}
            />
          </div>
        </div>
        <Table caption="Today and the last 7 days" columns={["", "Today", "7 days"]} numeric={[1, 2]}>
          {rows.map(([name, pick]) => (
            <tr>
              <th scope="row">{name}</th>
              <td class="num">{pick(today)}</td>
              <td class="num">{week(pick)}</td>
            </tr>
          ))}
        </Table>

        <div class="cards">
          <div>
            <h3>Refusals by reason</h3>
            {refusalBars.length ? <SvgBars title="Refusals by reason, last 7 days" bars={refusalBars} /> : <p class="muted">No refusals in the last 7 days.</p>}
          </div>
          <div>
            <h3>Delivery events</h3>
            {eventBars.length ? <SvgBars title="Outbound delivery events, last 7 days" bars={eventBars} /> : <p class="muted">No delivery events in the last 7 days.</p>}
          </div>
        </div>

        <h2>Relays today</h2>
        {relayBars.length ? (
          <SvgBars title="Messages each relay took today against its daily limit" bars={relayBars} />
        ) : (
          <p class="muted">
            No relays yet: <a href="/relays">add one</a>.
          </p>
        )}

        <h2 id="failing">What is failing</h2>
        {failing === 0 ? <p>Nothing is failing: no delivery is retrying, no relay erred in the last 24 hours, every incoming server fetched.</p> : null}
        {overview.retrying.count ? (
          <Table caption={`Deliveries retrying (${overview.retrying.count})`} columns={["Message", "Type", "Target", "Attempts", "Last error", "Next attempt"]} numeric={[3]}>
            {overview.retrying.items.map((d) => (
              <tr>
                <td>
                  <a href={`/messages/${encodeURIComponent(d.message_id)}`}>{d.message_id}</a>
                </td>
                <td>{d.type}</td>
                <td>{d.target ?? "–"}</td>
                <td class="num">{d.attempts}</td>
                <td>{d.last_error ?? "–"}</td>
                <td>
                  <Timestamp at={d.next_attempt_at} />
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
        {overview.relay_errors.length ? (
          <Table caption="Relays erring (last 24 hours)" columns={["Relay", "Failed attempts", "Latest attempt", "Last error", "At"]} numeric={[1]}>
            {overview.relay_errors.map((r) => (
              <tr>
                <td>
                  <a href={`/relays/${encodeURIComponent(r.relay_id)}`}>{relayName.get(r.relay_id) ?? r.relay_id}</a>
                </td>
                <td class="num">{r.failures}</td>
                <td>
                  <StatusBadge status={r.last_result} />
                </td>
                <td>{r.last_error ?? "–"}</td>
                <td>
                  <Timestamp at={r.last_at} />
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
        {failingServers.length ? (
          <Table caption="Incoming servers erring" columns={["Server", "Host", "Last error", "At"]}>
            {failingServers.map((s) => (
              <tr>
                <td>
                  <a href={`/incoming-servers/${encodeURIComponent(s.id)}`}>{s.name}</a>
                </td>
                <td>{s.host}</td>
                <td>{s.status.last_error}</td>
                <td>
                  <Timestamp at={s.status.last_error_at} />
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
      </Page>,
    );
  });
}
