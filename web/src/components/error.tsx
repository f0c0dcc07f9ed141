// Errors shown plainly: what happened, in the user's language, with the
// server's own explanation (which says what to do).

import { ApiFailure } from "../api";
import { t } from "../i18n";

/** A one-line description of a failure. */
export function describe(e: unknown): string {
  if (e instanceof ApiFailure) {
    if (e.status === 0) return t("error.network");
    if (e.status === 429) return t("error.rate", { s: e.retryAfter ?? 1 });
    if (e.status === 401) return t("error.auth");
    if (e.status === 403) return `${t("error.forbidden")}: ${e.message}`;
    if (e.status === 503) return `${t("error.busy")}: ${e.message}`;
    return e.message;
  }
  if (e instanceof Error) return `${t("error.generic")}: ${e.message}`;
  return t("error.generic");
}

/** An error banner, announced to screen readers. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {describe(error)}
    </p>
  );
}
