// The shell: who is signed in, the navigation their role allows, the
// language switch, and a hash router (`#/chat/<id>`, `#/library`,
// `#/console`) so that a reload or a shared link lands on the same page.

import { useEffect, useState } from "preact/hooks";
import { api, UNAUTHORIZED, type Me } from "./api";
import { lang, setLang, t, useLang, type Lang } from "./i18n";
import { allowed, type Page } from "./roles";
import { Login } from "./pages/login";
import { Chat } from "./pages/chat";
import { Library } from "./pages/library";
import { Console } from "./pages/console";

interface Route {
  page: Page;
  arg: string | null;
}

function parse(hash: string): Route {
  const [, page, arg] = hash.replace(/^#/, "").split("/");
  if (page === "library" || page === "console") return { page, arg: null };
  return { page: "chat", arg: arg ? decodeURIComponent(arg) : null };
}

function useRoute(): Route {
  const [route, set] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => set(parse(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** Goes to a page. */
export function go(path: string) {
  location.hash = "#/" + path;
}

export function App() {
  useLang();
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  useEffect(() => {
    api<Me>("GET", "/v1/auth/me")
      .then(setMe)
      .catch(() => setMe(null));
  }, []);

  // Any 401 from a page means the session ended: back to sign-in.
  useEffect(() => {
    const on = () => setMe(null);
    window.addEventListener(UNAUTHORIZED, on);
    return () => window.removeEventListener(UNAUTHORIZED, on);
  }, []);

  if (me === undefined) return <div class="splash" aria-busy="true">{t("app.name")}</div>;
  if (me === null) return <Login onSignedIn={setMe} />;

  const signOut = async () => {
    try {
      await api("POST", "/v1/auth/logout");
    } finally {
      setMe(null);
    }
  };

  const pages: Page[] = (["chat", "library", "console"] as Page[]).filter((p) => allowed(me, p));
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/chat">
          <span class="logo" aria-hidden="true">枢</span> {t("app.name")}
        </a>
        <nav aria-label={t("nav.main")}>
          {pages.map((p) => (
            <a href={"#/" + p} class={route.page === p ? "active" : ""} aria-current={route.page === p ? "page" : undefined}>
              {t(`nav.${p}` as const)}
            </a>
          ))}
        </nav>
        <div class="account">
          <label class="lang">
            <span class="sr-only">{t("nav.language")}</span>
            <select value={lang()} onChange={(e) => setLang((e.target as HTMLSelectElement).value as Lang)}>
              <option value="zh">中文</option>
              <option value="en">English</option>
            </select>
          </label>
          <span class="who" title={me.roles.join(", ")}>
            {me.username}
          </span>
          <button type="button" class="ghost" onClick={signOut}>
            {t("nav.signout")}
          </button>
        </div>
      </header>
      <main>
        {!allowed(me, route.page) ? (
          <section class="forbidden" role="alert">
            <h1>{t("forbidden.title")}</h1>
            <p>{t("forbidden.body")}</p>
          </section>
        ) : route.page === "library" ? (
          <Library />
        ) : route.page === "console" ? (
          <Console />
        ) : (
          <Chat conversationId={route.arg} />
        )}
      </main>
    </div>
  );
}
