// The document library (knowledge admins): start a folder ingestion and
// watch it live from the job's server-sent events, and manage documents.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, query, type DocumentRecord } from "../api";
import { formatTime, t } from "../i18n";
import { ErrorNote } from "../components/error";

interface JobView {
  id: string;
  total: number;
  done: number;
  skipped: number;
  failed: { path: string; error: string }[];
  chunks: number;
  recent: string[];
  finished: string | null;
}

function freshJob(id: string): JobView {
  return { id, total: 0, done: 0, skipped: 0, failed: [], chunks: 0, recent: [], finished: null };
}

export function Library() {
  const [docs, setDocs] = useState<DocumentRecord[]>([]);
  const [collection, setCollection] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = () =>
    api<{ documents: DocumentRecord[] }>("GET", "/v1/documents" + query({ limit: 500 }))
      .then((r) => {
        setDocs(r.documents);
        setError(null);
      })
      .catch(setError);

  useEffect(() => {
    load();
  }, []);

  const remove = async (d: DocumentRecord) => {
    if (!window.confirm(t("library.confirm", { title: d.title }))) return;
    try {
      await api("DELETE", `/v1/documents/${encodeURIComponent(d.id)}`);
      setNotice(t("library.deleted", { title: d.title }));
      load();
    } catch (e) {
      setError(e);
    }
  };

  const collections = [...new Set(docs.map((d) => d.collection))].sort();
  const shown = collection ? docs.filter((d) => d.collection === collection) : docs;

  return (
    <div class="page">
      <h1>{t("library.title")}</h1>
      <IngestForm onFinished={load} />
      <section aria-labelledby="docs-title">
        <div class="section-head">
          <h2 id="docs-title">{t("library.documents")}</h2>
          <label>
            <span class="sr-only">{t("library.filter")}</span>
            <select value={collection} onChange={(e) => setCollection((e.target as HTMLSelectElement).value)}>
              <option value="">{t("library.all")}</option>
              {collections.map((c) => (
                <option value={c}>{c}</option>
              ))}
            </select>
          </label>
          <button type="button" class="ghost" onClick={load}>
            ↻ {t("library.refresh")}
          </button>
        </div>
        <ErrorNote error={error} />
        {notice && <p class="notice" role="status">{notice}</p>}
        {shown.length === 0 ? (
          <p class="muted">{t("library.empty")}</p>
        ) : (
          <div class="table-wrap">
            <table class="docs">
              <thead>
                <tr>
                  <th scope="col">{t("library.col.title")}</th>
                  <th scope="col">{t("library.col.collection")}</th>
                  <th scope="col">{t("library.col.groups")}</th>
                  <th scope="col">{t("library.col.status")}</th>
                  <th scope="col">{t("library.col.version")}</th>
                  <th scope="col">{t("library.col.updated")}</th>
                  <th scope="col"><span class="sr-only">{t("library.delete")}</span></th>
                </tr>
              </thead>
              <tbody>
                {shown.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <div class="doc-title">{d.title}</div>
                      <div class="path small">{d.source_path}</div>
                    </td>
                    <td>{d.collection}</td>
                    <td>{d.access_groups.join(", ")}</td>
                    <td>
                      <span class={"badge " + d.status} title={d.error ?? ""}>
                        {statusLabel(d.status)}
                      </span>
                      {d.guard && d.guard.length > 0 && (
                        <span class="badge flagged"
                          title={t("library.flagged.title", {
                            notes: d.guard.map((n) => `${n.rule} (${n.action} ×${n.count})`).join(", "),
                          })}>
                          {t("library.flagged")}
                        </span>
                      )}
                    </td>
                    <td>{d.version}</td>
                    <td>{formatTime(d.updated_at)}</td>
                    <td>
                      <button type="button" class="danger small" onClick={() => remove(d)}
                        aria-label={`${t("library.delete")} ${d.title}`}>
                        {t("library.delete")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

const STATUSES = ["indexed", "pending", "failed", "succeeded", "cancelled"] as const;

function statusLabel(s: string): string {
  const known = STATUSES.find((k) => k === s);
  return known ? t(`status.${known}`) : s;
}

function IngestForm({ onFinished }: { onFinished: () => void }) {
  const [path, setPath] = useState("");
  const [collection, setCollection] = useState("default");
  const [groups, setGroups] = useState("public");
  const [error, setError] = useState<unknown>(null);
  const [job, setJob] = useState<JobView | null>(null);
  const source = useRef<EventSource | null>(null);

  useEffect(() => () => source.current?.close(), []);

  const start = async (e: Event) => {
    e.preventDefault();
    setError(null);
    source.current?.close();
    try {
      const created = await api<{ job_id: string }>("POST", "/v1/ingest/jobs", {
        path: path.trim(),
        collection: collection.trim() || "default",
        access_groups: groups.split(/[,，\s]+/).filter(Boolean),
      });
      setJob(freshJob(created.job_id));
      watch(created.job_id);
    } catch (err) {
      setError(err);
    }
  };

  const watch = (id: string) => {
    const es = new EventSource(`/v1/ingest/jobs/${encodeURIComponent(id)}/events`);
    source.current = es;
    let ended = false;
    const on = (name: string, f: (j: JobView, data: any) => JobView) =>
      es.addEventListener(name, (ev) => {
        const data = JSON.parse((ev as MessageEvent).data);
        setJob((j) => (j && j.id === id ? f(j, data) : j));
      });
    on("scanned", (j, d) => ({ ...j, total: d.files }));
    on("indexed", (j, d) => ({ ...j, done: j.done + 1, chunks: j.chunks + d.chunks, recent: [d.path, ...j.recent].slice(0, 5) }));
    on("skipped", (j, d) => ({ ...j, skipped: j.skipped + 1, recent: [`${d.path} (${d.reason})`, ...j.recent].slice(0, 5) }));
    on("failed", (j, d) => ({ ...j, failed: [...j.failed, { path: d.path, error: d.error }] }));
    // A job another ingest node runs: its counts as the registry records them.
    on("progress", (j, d) => ({ ...j, total: d.files_total, done: d.files_done, chunks: d.chunks }));
    on("finished", (j, d) => ({
      ...j,
      ...(d.files_total !== undefined ? { total: d.files_total, done: d.files_done, chunks: d.chunks } : {}),
      finished: d.status,
    }));
    es.addEventListener("finished", () => {
      ended = true;
      es.close();
      onFinished();
    });
    es.onerror = () => {
      // The stream ends after `finished`; an interruption before it is
      // shown (EventSource would otherwise reconnect and replay).
      es.close();
      if (!ended) setError(new Error("the progress stream was interrupted; refresh to see the documents"));
    };
  };

  const processed = job ? job.done + job.skipped + job.failed.length : 0;
  return (
    <section class="card" aria-labelledby="ingest-title">
      <h2 id="ingest-title">{t("library.ingest")}</h2>
      <form class="ingest" onSubmit={start}>
        <label>
          {t("library.path")}
          <input name="path" required value={path} placeholder="/srv/documents/handbook"
            onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("library.collection")}
          <input name="collection" value={collection} onInput={(e) => setCollection((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("library.groups")}
          <input name="groups" value={groups} onInput={(e) => setGroups((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary" disabled={!!job && !job.finished}>
          {t("library.start")}
        </button>
      </form>
      <ErrorNote error={error} />
      {job && (
        <div class="progress" role="status" aria-live="polite">
          <progress max={Math.max(job.total, 1)} value={processed} aria-label={t("library.progress")} />
          <p>
            {t("library.files", { done: processed, total: job.total })} · {t("library.chunks", { n: job.chunks })} ·{" "}
            {t("library.skipped", { n: job.skipped })} · {t("library.failed", { n: job.failed.length })}
            {job.finished && <strong class="finished"> · {t("library.finished", { status: statusLabel(job.finished) })}</strong>}
          </p>
          {job.recent.length > 0 && !job.finished && (
            <ul class="recent small">
              {job.recent.map((r) => (
                <li>{r}</li>
              ))}
            </ul>
          )}
          {job.failed.length > 0 && (
            <>
              <h3>{t("library.errors")}</h3>
              <ul class="failures">
                {job.failed.map((f) => (
                  <li>
                    <span class="path">{f.path}</span>: {f.error}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </section>
  );
}
