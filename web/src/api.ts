// The HTTP API, as the UI uses it. Every call goes to the same origin with
// the HTTP-only session cookie; the server decides what the caller may do,
// and the UI only mirrors it.

/** An error answered by the server (or the network), ready to show. */
export class ApiFailure extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** The server's stable error code, e.g. `rate_limited`. */
    readonly code: string,
    message: string,
    /** Seconds to wait, from `Retry-After`, when rate limited. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

async function failure(res: Response): Promise<ApiFailure> {
  let code = "http_" + res.status;
  let message = res.statusText || "request failed";
  try {
    const body = await res.json();
    if (body?.error?.message) {
      message = body.error.message;
      code = body.error.code ?? code;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  const retry = Number(res.headers.get("retry-after"));
  return new ApiFailure(res.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiFailure(0, "unreachable", "the server cannot be reached");
  }
  if (!res.ok) {
    // An ended session anywhere sends the user back to sign-in.
    if (res.status === 401 && path !== "/v1/auth/login") window.dispatchEvent(new Event(UNAUTHORIZED));
    throw await failure(res);
  }
  return res;
}

/** Fired on `window` when the server says the caller is not signed in. */
export const UNAUTHORIZED = "zhishu:unauthorized";

/** Calls a JSON endpoint and returns its body (`undefined` for 204). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A query string from the non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// ---- identity ----------------------------------------------------------

/** The signed-in user. */
export interface Me {
  username: string;
  roles: string[];
  groups: string[];
  auth: string;
}

// ---- chat ---------------------------------------------------------------

/** A resolved `[n]` marker. */
export interface Citation {
  n: number;
  document_id: string;
  document_version: number;
  title: string;
  path: string;
  page: number | null;
  section: string;
  chunk_id: string;
  snippet: string;
  /** The whole passage (absent in conversations stored before it existed). */
  text?: string;
  origin: string;
}

/** A passage the answer was given. */
export interface SourceRef {
  n: number;
  document_id: string;
  title: string;
  page: number | null;
  section: string;
  chunk_id: string;
  score: number;
}

/** Zhishu's part of a finished answer. */
export interface AnswerMeta {
  conversation_id: string;
  audit_event_id: string;
  search_query: string | null;
  history_dropped: number;
  sources: SourceRef[];
}

/** The end of a streamed answer. */
export interface AnswerEnd {
  finish_reason: string;
  citations: Citation[];
  meta: AnswerMeta | null;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
}

/** A stored conversation. */
export interface Conversation {
  id: string;
  title: string;
  created_at: number;
  updated_at: number;
}

/** A stored message. */
export interface StoredMessage {
  seq: number;
  role: string;
  content: string;
  reasoning: string | null;
  citations: Citation[];
  audit_event_id: string | null;
  created_at: number;
}

/**
 * Streams an answer from `POST /v1/chat/completions` (OpenAI's SSE
 * format). `onDelta` receives content and reasoning as they arrive; the
 * promise resolves with the final chunk's citations and metadata.
 */
export async function streamChat(
  body: Record<string, unknown>,
  onDelta: (content: string, reasoning: string) => void,
  signal: AbortSignal,
): Promise<AnswerEnd> {
  const res = await send("POST", "/v1/chat/completions", { ...body, stream: true }, signal);
  if (!res.body) throw new ApiFailure(0, "no_body", "the server sent no stream");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const end: AnswerEnd = { finish_reason: "stop", citations: [], meta: null, usage: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of frame.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return end;
        const chunk = JSON.parse(data);
        if (chunk.error) {
          const status = chunk.error.code === "unavailable" ? 503 : 500;
          throw new ApiFailure(status, chunk.error.code ?? "error", chunk.error.message ?? "the answer failed");
        }
        const choice = chunk.choices?.[0];
        const delta = choice?.delta ?? {};
        if (delta.content || delta.reasoning_content) {
          onDelta(delta.content ?? "", delta.reasoning_content ?? "");
        }
        if (choice?.finish_reason) end.finish_reason = choice.finish_reason;
        if (chunk.citations) end.citations = chunk.citations;
        if (chunk.zhishu) end.meta = chunk.zhishu;
        if (chunk.usage) end.usage = chunk.usage;
      }
    }
  }
  return end;
}

// ---- library --------------------------------------------------------------

/** A document in the registry. */
export interface DocumentRecord {
  id: string;
  collection: string;
  source_path: string;
  title: string;
  mime_type: string;
  version: number;
  size_bytes: number;
  modified_at: number;
  access_groups: string[];
  status: string;
  error: string | null;
  /** What the document guard found at the last indexing. */
  guard?: { rule: string; action: string; count: number }[];
  updated_at: number;
}

// ---- audit -----------------------------------------------------------------

/** One audit event as the compliance API lists it. */
export interface AuditEventView {
  seq: number;
  id: string;
  time: string;
  actor: string;
  action: string;
  outcome: string;
  client_addr: string | null;
  event: AuditEventBody;
  prev_hash: string;
  hash: string;
}

/** The recorded event. */
export interface AuditEventBody {
  actor: { user: string; roles: string[]; groups: string[]; auth: string };
  action: string;
  outcome: string;
  request_id?: string | null;
  question?: string | null;
  retrieved?: RetrievedSource[];
  documents?: string[];
  prompt?: { tokens: number; sha256: string } | null;
  answer?: string | null;
  citations?: { n: number; chunk_id: string; document_id: string; page?: number | null; origin?: string | null }[];
  model?: { name: string; parameters: unknown } | null;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  latency_ms?: number | null;
  policy?: {
    policy: string;
    verdict: string;
    detail?: string | null;
    /** Guard decisions: the rule, where it ran, what it read, offsets. */
    rule?: string;
    point?: string;
    target?: string;
    spans?: [number, number][];
  }[];
  error?: string | null;
  input?: unknown;
}

/** A chunk an exchange retrieved, with its place in the document as it was then. */
export interface RetrievedSource {
  chunk_id: string;
  document_id: string;
  document_version: number;
  score: number;
  title?: string;
  path?: string;
  page?: number;
  section?: string;
}

/** `GET /v1/audit/events/{id}/passages/{chunk_id}`: a retrieved passage. */
export interface AuditPassage {
  chunk_id: string;
  document_id: string;
  document_version: number;
  title: string;
  path: string;
  page: number | null;
  section: string;
  text: string;
}

/** The result of `GET /v1/audit/verify`. */
export interface Verification {
  ok: boolean;
  events_checked: number;
  /** Events written by an earlier version in the legacy chain encoding, re-verified with it. */
  legacy_events: number;
  last_seq: number;
  last_hash: string;
  problem: { seq: number; event_id: string; kind: string; detail: string } | null;
}
