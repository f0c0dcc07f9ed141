// Sign-in with a local user's password; the server sets the HTTP-only
// session cookie.

import { useEffect, useState } from "preact/hooks";
import { api, ApiFailure, type Me } from "../api";
import { t } from "../i18n";
import { ErrorNote } from "../components/error";

export function Login({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState(false);
  // A failed single sign-on comes back as `/?sso_error=<reason>`.
  const [ssoError] = useState(() => new URLSearchParams(location.search).get("sso_error"));

  useEffect(() => {
    api<{ sso: boolean }>("GET", "/v1/auth/providers")
      .then((p) => setSso(p.sso))
      .catch(() => setSso(false));
    if (ssoError) history.replaceState(null, "", location.pathname + location.hash);
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api<Me>("POST", "/v1/auth/login", { username, password }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <div class="brand big">
          <span class="logo" aria-hidden="true">枢</span> {t("app.name")}
        </div>
        <p class="muted">{t("app.tagline")}</p>
        <h1 id="login-title">{t("login.title")}</h1>
        <label>
          {t("login.username")}
          <input name="username" autoComplete="username" required value={username}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("login.password")}
          <input name="password" type="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        {/* 401 here is a wrong name or password, not an ended session. */}
        {error instanceof ApiFailure && error.status === 401 ? (
          <p class="error" role="alert">
            {t("login.failed")}: {error.message}
          </p>
        ) : (
          <ErrorNote error={error} />
        )}
        <button type="submit" class="primary" disabled={busy}>
          {t("login.submit")}
        </button>
        {ssoError && (
          <p class="error" role="alert">
            {ssoMessage(ssoError)}
          </p>
        )}
        {sso && (
          <>
            <div class="or" aria-hidden="true">
              <span>·</span>
            </div>
            <a class="button wide" href="/v1/auth/oidc/login">
              {t("login.sso")}
            </a>
          </>
        )}
      </form>
    </main>
  );
}

function ssoMessage(reason: string): string {
  switch (reason) {
    case "denied":
      return t("sso.denied");
    case "disabled":
      return t("sso.disabled");
    case "local_account":
      return t("sso.local");
    case "rate_limited":
      return t("error.rate", { s: 60 });
    default:
      return t("sso.failed");
  }
}
