// The chat: conversations on the left, the exchange in the middle, the
// cited source on the right. Answers stream token by token; `[n]` chips
// open the passage they cite.

import { useEffect, useRef, useState } from "preact/hooks";
import {
  api,
  streamChat,
  type Citation,
  type Conversation,
  type SourceRef,
  type StoredMessage,
} from "../api";
import { formatTime, t } from "../i18n";
import { renderAnswer } from "../markdown";
import { describe } from "../components/error";
import { Field } from "../components/field";
import { go } from "../app";

/** One message on screen. */
interface Turn {
  role: "user" | "assistant";
  content: string;
  reasoning: string;
  citations: Citation[];
  sources: SourceRef[];
  streaming?: boolean;
  error?: string;
  note?: string;
}

function fromStored(m: StoredMessage): Turn {
  return {
    role: m.role === "user" ? "user" : "assistant",
    content: m.content,
    reasoning: m.reasoning ?? "",
    citations: Array.isArray(m.citations) ? m.citations : [],
    sources: [],
  };
}

export function Chat({ conversationId }: { conversationId: string | null }) {
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [input, setInput] = useState("");
  const [thinking, setThinking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [open, setOpen] = useState<Citation | null>(null);
  const abort = useRef<AbortController | null>(null);
  const current = useRef<string | null>(conversationId);
  const bottom = useRef<HTMLDivElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);

  const loadList = () =>
    api<{ data: Conversation[] }>("GET", "/v1/conversations?limit=100")
      .then((r) => {
        setConversations(r.data);
        setListError(null);
      })
      .catch((e) => setListError(describe(e)));

  useEffect(() => {
    loadList();
  }, []);

  // Opening a conversation (or a new chat) from the URL.
  useEffect(() => {
    if (conversationId === current.current && turns.length > 0) return;
    current.current = conversationId;
    setOpen(null);
    if (!conversationId) {
      setTurns([]);
      return;
    }
    api<{ messages: StoredMessage[] }>("GET", `/v1/conversations/${encodeURIComponent(conversationId)}`)
      .then((r) => setTurns(r.messages.map(fromStored)))
      .catch((e) => setTurns([{ role: "assistant", content: "", reasoning: "", citations: [], sources: [], error: describe(e) }]));
  }, [conversationId]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [turns]);

  const update = (f: (t: Turn) => Turn) =>
    setTurns((all) => all.map((turn, i) => (i === all.length - 1 ? f(turn) : turn)));

  const ask = async () => {
    const question = input.trim();
    if (!question || busy) return;
    setInput("");
    setBusy(true);
    setTurns((all) => [
      ...all,
      { role: "user", content: question, reasoning: "", citations: [], sources: [] },
      { role: "assistant", content: "", reasoning: "", citations: [], sources: [], streaming: true },
    ]);
    const controller = new AbortController();
    abort.current = controller;
    const zhishu: Record<string, unknown> = { enable_thinking: thinking };
    if (current.current) zhishu.conversation_id = current.current;
    try {
      const end = await streamChat(
        { model: "zhishu", messages: [{ role: "user", content: question }], zhishu },
        (content, reasoning) =>
          update((turn) => ({ ...turn, content: turn.content + content, reasoning: turn.reasoning + reasoning })),
        controller.signal,
      );
      update((turn) => ({
        ...turn,
        streaming: false,
        citations: end.citations,
        sources: end.meta?.sources ?? [],
        note:
          end.finish_reason === "length"
            ? t("chat.truncated")
            : end.finish_reason === "content_filter"
              ? t("chat.filtered")
              : undefined,
      }));
      if (end.meta?.conversation_id && end.meta.conversation_id !== current.current) {
        current.current = end.meta.conversation_id;
        go("chat/" + encodeURIComponent(end.meta.conversation_id));
      }
      loadList();
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") {
        update((turn) => ({ ...turn, streaming: false, note: t("chat.stopped") }));
      } else {
        update((turn) => ({ ...turn, streaming: false, error: describe(e) }));
      }
    } finally {
      abort.current = null;
      setBusy(false);
      box.current?.focus();
    }
  };

  const onKey = (e: KeyboardEvent) => {
    // An input method's Enter confirms the composition; it must not send.
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    ask();
  };

  const newChat = () => {
    current.current = null;
    setTurns([]);
    setOpen(null);
    go("chat");
    box.current?.focus();
  };

  return (
    <div class={"chat" + (open ? " with-panel" : "")}>
      <aside class="conversations" aria-label={t("chat.conversations")}>
        <button type="button" class="primary wide" onClick={newChat}>
          + {t("chat.new")}
        </button>
        <h2>{t("chat.conversations")}</h2>
        {listError && <p class="error">{listError}</p>}
        {conversations.length === 0 && !listError && <p class="muted">{t("chat.none")}</p>}
        <ul>
          {conversations.map((c) => (
            <li key={c.id}>
              <a href={"#/chat/" + encodeURIComponent(c.id)} class={c.id === conversationId ? "active" : ""}
                aria-current={c.id === conversationId ? "page" : undefined} title={formatTime(c.updated_at)}>
                {c.title || "…"}
              </a>
            </li>
          ))}
        </ul>
      </aside>

      <section class="exchange" aria-label={t("nav.chat")}>
        <div class="messages" aria-live="polite">
          {turns.length === 0 && <p class="empty">{t("chat.empty")}</p>}
          {turns.map((turn, i) => (
            <Message key={i} turn={turn} onCite={setOpen} />
          ))}
          <div ref={bottom} />
        </div>
        <form class="composer" onSubmit={(e) => { e.preventDefault(); ask(); }}>
          <label class="sr-only" for="question">{t("chat.question")}</label>
          <textarea id="question" ref={box} rows={2} value={input} placeholder={t("chat.placeholder")}
            onInput={(e) => setInput((e.target as HTMLTextAreaElement).value)} onKeyDown={onKey} />
          <div class="actions">
            <label class="check">
              <input type="checkbox" checked={thinking} onChange={(e) => setThinking((e.target as HTMLInputElement).checked)} />
              {t("chat.thinking")}
            </label>
            {busy ? (
              <button type="button" class="danger" onClick={() => abort.current?.abort()}>
                ■ {t("chat.stop")}
              </button>
            ) : (
              <button type="submit" class="primary" disabled={!input.trim()}>
                {t("chat.send")}
              </button>
            )}
          </div>
        </form>
      </section>

      {open && <CitationPanel citation={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

function Message({ turn, onCite }: { turn: Turn; onCite: (c: Citation) => void }) {
  if (turn.role === "user") {
    return (
      <article class="msg user">
        <h3 class="sr-only">{t("chat.you")}</h3>
        <p>{turn.content}</p>
      </article>
    );
  }
  const byN = new Map(turn.citations.map((c) => [c.n, c]));
  const click = (e: MouseEvent) => {
    const target = (e.target as HTMLElement).closest("button.cite") as HTMLElement | null;
    if (!target) return;
    const c = byN.get(Number(target.dataset.cite));
    if (c) onCite(c);
  };
  const html = renderAnswer(turn.content, (n) => t("chat.cite", { n }));
  return (
    <article class={"msg assistant" + (turn.streaming ? " streaming" : "")} aria-busy={turn.streaming ? "true" : "false"}>
      <h3 class="sr-only">{t("chat.assistant")}</h3>
      {turn.reasoning && (
        <details class="reasoning">
          <summary>{t("chat.reasoning")}</summary>
          <pre>{turn.reasoning}</pre>
        </details>
      )}
      <div class="answer" onClick={click} dangerouslySetInnerHTML={{ __html: html }} />
      {turn.streaming && <span class="cursor" aria-hidden="true" />}
      {turn.error && <p class="error" role="alert">{turn.error}</p>}
      {turn.note && <p class="muted">{turn.note}</p>}
      {!turn.streaming && !turn.error && turn.citations.length > 0 && (
        <div class="sources">
          <span>{t("chat.sources")}:</span>
          {turn.citations.map((c) => (
            <button type="button" class="chip" onClick={() => onCite(c)} aria-label={t("chat.cite", { n: c.n })}>
              <b>[{c.n}]</b> {c.title}
              {c.page != null && ` · p.${c.page}`}
            </button>
          ))}
        </div>
      )}
      {!turn.streaming && !turn.error && turn.content && turn.citations.length === 0 && (
        <p class="muted small">{t("chat.nosources")}</p>
      )}
    </article>
  );
}

function CitationPanel({ citation, onClose }: { citation: Citation; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    close.current?.focus();
    const esc = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", esc);
    return () => window.removeEventListener("keydown", esc);
  }, [citation]);
  return (
    <aside class="panel" role="complementary" aria-labelledby="cite-title">
      <div class="panel-head">
        <h2 id="cite-title">
          {t("cite.title")} [{citation.n}]
        </h2>
        <button type="button" ref={close} class="ghost" onClick={onClose} aria-label={t("cite.close")}>
          ✕
        </button>
      </div>
      <h3 class="doc-title">{citation.title}</h3>
      <dl>
        <Field label={t("cite.page")} class="cite-page" value={citation.page} />
        <Field label={t("cite.section")} value={citation.section} />
        <Field label={t("cite.path")} class="path" value={citation.path} />
      </dl>
      <h4>{t("cite.passage")}</h4>
      <blockquote class="passage">{citation.text || citation.snippet}</blockquote>
      {citation.origin === "overlap" && <p class="muted small">{t("cite.matched")}</p>}
      <PageView citation={citation} />
      <p class="small">
        <a href={`/v1/documents/${encodeURIComponent(citation.document_id)}/file`} download>
          {t("cite.download")}
        </a>
      </p>
    </aside>
  );
}

/** Files the server shows page by page: PDFs and scans. */
const PAGED = /\.(pdf|png|jpe?g|tiff?|bmp|gif|webp)$/i;

/** The cited page of a PDF or a scanned image, rendered by the server with
 * the passage marked. Hidden when the server cannot show it (another
 * format, file changed). */
function PageView({ citation }: { citation: Citation }) {
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [citation]);
  if (failed || citation.page == null || !PAGED.test(citation.path)) return null;
  const src =
    `/v1/documents/${encodeURIComponent(citation.document_id)}/pages/${citation.page}` +
    `?chunk=${encodeURIComponent(citation.chunk_id)}&width=900`;
  return (
    <figure class="page-view">
      <img src={src} alt={t("cite.pageimage", { page: citation.page })} loading="lazy" onError={() => setFailed(true)} />
    </figure>
  );
}
