// The compliance console: the audit trail filtered like `zhishu audit
// search`, one event in full, export of the current filter, and a check
// of the hash chain.

import { useEffect, useState } from "preact/hooks";
import { api, query, type AuditEventView, type AuditPassage, type Verification } from "../api";
import { formatTime, t } from "../i18n";
import { ErrorNote } from "../components/error";
import { Field } from "../components/field";

interface Filter {
  user: string;
  action: string;
  outcome: string;
  from: string;
  to: string;
  text: string;
  guard: string;
}

const EMPTY: Filter = { user: "", action: "", outcome: "", from: "", to: "", text: "", guard: "" };

/** A `datetime-local` value as Unix milliseconds (what the API takes). */
function millis(local: string): number | undefined {
  if (!local) return undefined;
  const ms = new Date(local).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

function params(f: Filter) {
  return {
    user: f.user.trim(),
    action: f.action.trim(),
    outcome: f.outcome,
    from: millis(f.from),
    to: millis(f.to),
    text: f.text.trim(),
    guard: f.guard.trim(),
  };
}

export function Console() {
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [events, setEvents] = useState<AuditEventView[]>([]);
  const [cursor, setCursor] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<AuditEventView | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);
  const [verifying, setVerifying] = useState(false);

  const load = (f: Filter, after: number | null) =>
    api<{ events: AuditEventView[]; next_cursor: number | null }>(
      "GET",
      "/v1/audit/events" + query({ ...params(f), limit: 50, cursor: after ?? undefined }),
    )
      .then((page) => {
        setEvents((old) => (after ? [...old, ...page.events] : page.events));
        setCursor(page.next_cursor);
        setError(null);
      })
      .catch(setError);

  useEffect(() => {
    load(filter, null);
  }, [filter]);

  const field = (name: keyof Filter) => ({
    value: draft[name],
    onInput: (e: Event) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value }),
  });

  const verify = async () => {
    setVerifying(true);
    try {
      setVerification(await api<Verification>("GET", "/v1/audit/verify"));
    } catch (e) {
      setError(e);
    } finally {
      setVerifying(false);
    }
  };

  const exportHref = (format: string) => "/v1/audit/export" + query({ ...params(filter), format });

  return (
    <div class={"page console" + (selected ? " with-panel" : "")}>
      <div class="main-col">
        <h1>{t("console.title")}</h1>
        <form class="filters" onSubmit={(e) => { e.preventDefault(); setSelected(null); setFilter(draft); }}>
          <label>
            {t("console.user")}
            <input name="user" {...field("user")} />
          </label>
          <label>
            {t("console.action")}
            <input name="action" placeholder="chat.completion" {...field("action")} />
          </label>
          <label>
            {t("console.outcome")}
            <select name="outcome" value={draft.outcome}
              onChange={(e) => setDraft({ ...draft, outcome: (e.target as HTMLSelectElement).value })}>
              <option value="">{t("console.any")}</option>
              {["ok", "error", "refused", "cancelled", "interrupted"].map((o) => (
                <option value={o}>{o}</option>
              ))}
            </select>
          </label>
          <label>
            {t("console.from")}
            <input name="from" type="datetime-local" {...field("from")} />
          </label>
          <label>
            {t("console.to")}
            <input name="to" type="datetime-local" {...field("to")} />
          </label>
          <label class="grow">
            {t("console.text")}
            <input name="text" type="search" {...field("text")} />
          </label>
          <label>
            {t("console.guard")}
            <input name="guard" type="search" placeholder={t("console.guard.hint")} {...field("guard")} />
          </label>
          <button type="submit" class="primary">
            {t("console.search")}
          </button>
        </form>
        <div class="toolbar">
          <span>{t("console.export")}:</span>
          <a class="button ghost" href={exportHref("csv")} download="zhishu-audit.csv">CSV</a>
          <a class="button ghost" href={exportHref("jsonl")} download="zhishu-audit.jsonl">JSONL</a>
          <span class="spacer" />
          <button type="button" class="ghost" onClick={verify} disabled={verifying}>
            {t("console.verify")}
          </button>
        </div>
        {verification && (
          <p class={verification.ok ? "notice ok" : "error"} role="status">
            {verification.ok
              ? t("console.verified", { n: verification.events_checked, hash: verification.last_hash.slice(0, 16) + "…" }) +
                (verification.legacy_events > 0 ? " " + t("console.legacy", { n: verification.legacy_events }) : "")
              : t("console.broken", {
                  seq: verification.problem?.seq ?? "?",
                  kind: verification.problem?.kind ?? "",
                  detail: verification.problem?.detail ?? "",
                })}
          </p>
        )}
        <ErrorNote error={error} />
        {events.length === 0 ? (
          <p class="muted">{t("console.none")}</p>
        ) : (
          <div class="table-wrap">
            <table class="events">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">{t("console.col.time")}</th>
                  <th scope="col">{t("console.user")}</th>
                  <th scope="col">{t("console.action")}</th>
                  <th scope="col">{t("console.outcome")}</th>
                  <th scope="col">{t("console.col.question")}</th>
                </tr>
              </thead>
              <tbody>
                {events.map((ev) => (
                  <tr key={ev.id} class={selected?.id === ev.id ? "selected" : ""}>
                    <td>{ev.seq}</td>
                    <td>{formatTime(ev.time)}</td>
                    <td>{ev.actor}</td>
                    <td>
                      <button type="button" class="link" onClick={() => setSelected(ev)}>
                        {ev.action}
                      </button>
                    </td>
                    <td>
                      <span class={"badge " + ev.outcome}>{ev.outcome}</span>
                    </td>
                    <td class="clip">{ev.event.question ?? ev.event.error ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {cursor !== null && (
          <button type="button" class="ghost" onClick={() => load(filter, cursor)}>
            {t("console.more")}
          </button>
        )}
      </div>
      {selected && <EventDetail view={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

function EventDetail({ view, onClose }: { view: AuditEventView; onClose: () => void }) {
  const ev = view.event;
  const [passage, setPassage] = useState<AuditPassage | null>(null);
  const [passageError, setPassageError] = useState<unknown>(null);
  useEffect(() => {
    setPassage(null);
    setPassageError(null);
  }, [view.id]);
  const readPassage = async (chunk: string) => {
    setPassageError(null);
    try {
      setPassage(
        await api<AuditPassage>(
          "GET",
          `/v1/audit/events/${encodeURIComponent(view.id)}/passages/${encodeURIComponent(chunk)}`,
        ),
      );
    } catch (e) {
      setPassage(null);
      setPassageError(e);
    }
  };
  return (
    <aside class="panel event-detail" aria-labelledby="event-title">
      <div class="panel-head">
        <h2 id="event-title">
          {t("console.detail")} #{view.seq} · {view.action}
        </h2>
        <button type="button" class="ghost" onClick={onClose} aria-label={t("cite.close")}>
          ✕
        </button>
      </div>
      <dl>
        <Field label={t("console.col.time")} value={formatTime(view.time)} />
        <Field
          label={t("console.user")}
          value={
            <>
              {ev.actor.user} ({ev.actor.roles.join(", ") || "—"}; {ev.actor.auth})
              {ev.actor.groups.length > 0 && <div class="small muted">{ev.actor.groups.join(", ")}</div>}
            </>
          }
        />
        <Field label={t("console.outcome")} value={<span class={"badge " + view.outcome}>{view.outcome}</span>} />
        <Field label={t("console.model")} value={ev.model?.name} />
        <Field label={t("console.usage")} value={ev.usage && `${ev.usage.prompt_tokens} + ${ev.usage.completion_tokens}`} />
        <Field label={t("console.latency")} value={ev.latency_ms != null && `${ev.latency_ms} ms`} />
        <Field
          label={t("console.prompt")}
          class="mono small"
          value={ev.prompt && `${ev.prompt.tokens} tokens · sha256 ${ev.prompt.sha256}`}
        />
      </dl>
      <Text title={t("console.question")} class="detail-question" text={ev.question} />
      <Text title={t("console.answer")} class="detail-answer" text={ev.answer} />
      <Text title={t("console.error")} class="error" text={ev.error} />
      {ev.retrieved && ev.retrieved.length > 0 && (
        <>
          <h3>{t("console.sources")}</h3>
          <table class="compact sources">
            <thead>
              <tr>
                <th scope="col">{t("console.document")}</th>
                <th scope="col">{t("console.page")}</th>
                <th scope="col">{t("console.version")}</th>
                <th scope="col">{t("console.score")}</th>
                <th scope="col"><span class="sr-only">{t("console.read")}</span></th>
              </tr>
            </thead>
            <tbody>
              {ev.retrieved.map((r) => (
                <tr>
                  <td>
                    {r.title ?? <span class="mono small">{r.document_id}</span>}
                    {r.section && <span class="small muted"> · {r.section}</span>}
                    {r.path && <div class="mono small muted">{r.path}</div>}
                  </td>
                  <td>{r.page ?? "—"}</td>
                  <td>{r.document_version}</td>
                  <td>{r.score.toFixed(4)}</td>
                  <td>
                    <button type="button" class="ghost small" onClick={() => readPassage(r.chunk_id)}>
                      {t("console.read")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {passage && (
            <div class="passage-view">
              <h4>
                {t("console.passage")}: {passage.title}
                {passage.page != null && ` · p.${passage.page}`} · v{passage.document_version}
              </h4>
              <blockquote class="passage">{passage.text}</blockquote>
            </div>
          )}
          <ErrorNote error={passageError} />
        </>
      )}
      {ev.citations && ev.citations.length > 0 && (
        <>
          <h3>{t("console.citations")}</h3>
          <ul class="small">
            {ev.citations.map((c) => (
              <li>
                [{c.n}] <span class="mono">{c.document_id}</span>
                {c.page != null && ` · p.${c.page}`}
                {c.origin && ` · ${c.origin}`}
              </li>
            ))}
          </ul>
        </>
      )}
      {ev.policy && ev.policy.length > 0 && (
        <>
          <h3>{t("console.policy")}</h3>
          <ul class="small">
            {ev.policy.map((p) => (
              <li class={p.policy === "guard" ? "guard-decision" : undefined}>
                <b>{p.policy}</b>: {p.verdict}
                {p.rule && <> · <span class="mono">{p.rule}</span></>}
                {p.point && ` · ${p.point}`}
                {p.target && <> · <span class="mono">{p.target}</span></>}
                {p.spans && p.spans.length > 0 && ` · ${p.spans.map(([a, b]) => `${a}–${b}`).join(", ")}`}
                {p.detail && ` — ${p.detail}`}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>{t("console.hashes")}</h3>
      <dl class="mono small hashes">
        <dt>prev</dt>
        <dd>{view.prev_hash}</dd>
        <dt>hash</dt>
        <dd>{view.hash}</dd>
      </dl>
    </aside>
  );
}

/** A titled block of recorded text; nothing when there is none. */
function Text({ title, class: cls, text }: { title: string; class: string; text?: string | null }) {
  if (!text) return null;
  return (
    <>
      <h3>{title}</h3>
      <p class={cls}>{text}</p>
    </>
  );
}
