/**
 * Small pieces the console's pages share: tables, status badges, labelled
 * fields, notices and refusals, times, forms with their CSRF field, and
 * server-drawn SVG bar charts (colours by class, never `style=`).
 */
import type { Child } from "hono/jsx";
import { csrfField, type Session } from "./session";

/** A tone: the colour a status or a bar gets (classes in the stylesheet). */
export type Tone = "ok" | "warn" | "bad" | "info" | "neutral";

const TONES: Record<string, Tone> = {
  accepted: "ok",
  delivered: "ok",
  sent: "ok",
  valid: "ok",
  ok: "ok",
  enabled: "ok",
  queued: "info",
  pending: "info",
  not_tested: "neutral",
  dropped: "neutral",
  deferred: "warn",
  retry: "warn",
  partial: "warn",
  disabled: "neutral",
  refused: "bad",
  failed: "bad",
  bounced: "bad",
  complained: "bad",
  unsubscribed: "warn",
  gone: "bad",
  invalid: "bad",
  relay_error: "bad",
  error: "bad",
};

/** The tone of a status word (unknown words are neutral). */
export function toneOf(status: string): Tone {
  return TONES[status] ?? "neutral";
}

/** A status as a badge (text, never colour alone). */
export function StatusBadge({ status, tone }: { status: string; tone?: Tone }) {
  return <span class={`badge ${tone ?? toneOf(status)}`}>{status.replaceAll("_", " ")}</span>;
}

/** A table with a header row (`columns`) and its rows as children (`<tr>`s); scrolls sideways on a phone. `numeric`: the columns aligned right. */
export function Table({ caption, columns, numeric = [], children }: { caption?: string; columns: string[]; numeric?: number[]; children?: Child }) {
  return (
    <div class="table-wrap">
      <table>
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((column, i) => (
              <th scope="col" class={numeric.includes(i) ? "num" : undefined}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** An option of a `Field` select. */
export interface FieldOption {
  value: string;
  label: string;
}

/**
 * A label and its control, tied by id (`id` defaults to `name`): an input
 * (`type`, default text), a select (`options`) or a textarea (`multiline`).
 */
export function Field(props: {
  label: string;
  name: string;
  id?: string;
  type?: string;
  value?: string | number | null;
  options?: FieldOption[];
  multiline?: boolean;
  required?: boolean;
  placeholder?: string;
  hint?: string;
  autocomplete?: string;
  inputmode?: "email" | "numeric" | "url" | "text" | "search" | "tel" | "decimal" | "none";
  min?: number;
  max?: number;
}) {
  const id = props.id ?? props.name;
  const hintId = props.hint ? `${id}-hint` : undefined;
  const value = props.value === null || props.value === undefined ? undefined : String(props.value);
  let control: Child;
  if (props.options) {
    control = (
      <select id={id} name={props.name} required={props.required} aria-describedby={hintId}>
        {props.options.map((option) => (
          <option value={option.value} selected={option.value === value}>
            {option.label}
          </option>
        ))}
      </select>
    );
  } else if (props.multiline) {
    control = (
      <textarea id={id} name={props.name} required={props.required} placeholder={props.placeholder} aria-describedby={hintId}>
        {value ?? ""}
      </textarea>
    );
  } else {
    control = (
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={value}
        required={props.required}
        placeholder={props.placeholder}
        autocomplete={props.autocomplete}
        inputmode={props.inputmode}
        min={props.min}
        max={props.max}
        aria-describedby={hintId}
      />
    );
  }
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {control}
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
    </div>
  );
}

/** Something that went well (or a neutral note), announced politely. */
export function Notice({ children }: { children?: Child }) {
  return <p role="status">{children}</p>;
}

/** A refusal or an error, announced at once. */
export function Refusal({ children }: { children?: Child }) {
  return <p role="alert">{children}</p>;
}

/** A time from the API (ISO 8601), shown in UTC to the minute; null shows a dash. */
export function Timestamp({ at }: { at: string | number | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">–</span>;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return <span>{String(at)}</span>;
  const iso = date.toISOString();
  return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`}</time>;
}

/** A POST form with the session's CSRF field. Every console form that changes something is one of these. */
export function PostForm({ action, session, class: className, label, children }: { action: string; session: Session; class?: string; label?: string; children?: Child }) {
  return (
    <form method="post" action={action} class={className} aria-label={label}>
      {csrfField(session)}
      {children}
    </form>
  );
}

/** A bar of `SvgBars`: its label, its value, its tone, and optionally its own maximum (a relay's daily limit). */
export interface Bar {
  label: string;
  value: number;
  tone?: Tone;
  /** Drawn as the bar's track: the bar is value / max of it. */
  max?: number | null;
  /** Shown after the value instead of the plain number ("120 / 500"). */
  text?: string;
}

/**
 * A horizontal bar chart drawn on the server: `role="img"` with a `<title>`
 * (the chart's name) and a `<desc>` that reads every bar as text, so a
 * screen reader hears the numbers and not the picture.
 */
export function SvgBars({ title, bars, width = 400 }: { title: string; bars: Bar[]; width?: number }) {
  const row = 26;
  const labelWidth = Math.min(150, Math.round(width * 0.34));
  const valueWidth = 86;
  const barWidth = width - labelWidth - valueWidth;
  const height = Math.max(row, bars.length * row) + 4;
  const shared = Math.max(1, ...bars.map((b) => (b.max === undefined || b.max === null ? b.value : 0)));
  const desc = bars.length ? bars.map((b) => `${b.label}: ${b.text ?? b.value}`).join("; ") : "No data";
  const titleId = `chart-${slug(title)}`;
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={titleId} xmlns="http://www.w3.org/2000/svg">
      <title id={titleId}>{title}</title>
      <desc>{desc}</desc>
      {bars.length === 0 ? (
        <text x="0" y="18">
          No data yet
        </text>
      ) : (
        bars.map((bar, i) => {
          const y = i * row + 4;
          const max = bar.max ?? shared;
          const fraction = max > 0 ? Math.min(1, bar.value / max) : 0;
          return (
            <g>
              <text x="0" y={y + 14}>
                {truncate(bar.label, 22)}
              </text>
              {bar.max ? <rect class="track" x={labelWidth} y={y + 2} width={barWidth} height={row - 10} rx="3" /> : null}
              <rect
                class={`bar ${bar.tone ?? "info"}`}
                x={labelWidth}
                y={y + 2}
                width={Math.max(bar.value > 0 ? 2 : 0, Math.round(fraction * barWidth))}
                height={row - 10}
                rx="3"
              />
              <text x={labelWidth + barWidth + 6} y={y + 14}>
                {bar.text ?? String(bar.value)}
              </text>
            </g>
          );
        })
      )}
    </svg>
  );
}

/** A series of `SvgColumns`: its name and tone, one value per column. */
export interface Series {
  name: string;
  tone: Tone;
  values: number[];
}

/**
 * Stacked columns (days, say) drawn on the server, with a legend in HTML;
 * `role="img"`, a `<title>` and a `<desc>` giving every number.
 */
export function SvgColumns({ title, labels, series, width = 400, height = 160 }: { title: string; labels: string[]; series: Series[]; width?: number; height?: number }) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const axis = 22;
  const top = 16;
  const plot = height - axis - top;
  const slot = width / Math.max(1, labels.length);
  const column = Math.max(4, Math.min(48, slot * 0.6));
  const titleId = `chart-${slug(title)}`;
  const desc = labels.map((label, i) => `${label}: ${series.map((s) => `${s.name} ${s.values[i] ?? 0}`).join(", ")}`).join("; ");
  return (
    <figure>
      <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={titleId} xmlns="http://www.w3.org/2000/svg">
        <title id={titleId}>{title}</title>
        <desc>{desc}</desc>
        {labels.map((label, i) => {
          const x = i * slot + (slot - column) / 2;
          let y = top + plot;
          return (
            <g>
              {series.map((s) => {
                const value = s.values[i] ?? 0;
                const h = Math.round((value / max) * plot);
                y -= h;
                return value > 0 ? <rect class={`bar ${s.tone}`} x={Math.round(x)} y={y} width={Math.round(column)} height={h} /> : null;
              })}
              <text x={Math.round(i * slot + slot / 2)} y={top + plot - Math.round(((totals[i] ?? 0) / max) * plot) - 4} text-anchor="middle">
                {String(totals[i] ?? 0)}
              </text>
              <text x={Math.round(i * slot + slot / 2)} y={height - 6} text-anchor="middle">
                {label}
              </text>
            </g>
          );
        })}
      </svg>
      <ul class="legend">
        {series.map((s) => (
          <li class={s.tone}>{s.name}</li>
        ))}
      </ul>
    </figure>
  );
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** `text` cut to `max` characters, an ellipsis last when it was longer (chart labels; the flash cookie, src/console/forms.tsx). */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A page of a list: a link to the next one when the API gave a cursor (the filters kept). */
export function Pager({ base, params, cursor }: { base: string; params: Record<string, string | undefined>; cursor: string | null | undefined }) {
  if (!cursor) return null;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  search.set("cursor", cursor);
  return (
    <p class="pager">
      <a href={`${base}?${search}`}>Older</a>
    </p>
  );
}
