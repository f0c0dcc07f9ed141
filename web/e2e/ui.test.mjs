// Browser tests of the web UI: Debian's chromium, headless, driven by
// playwright-core, against a real `zhishu serve` with the small model.
//
// tests/web_ui.rs starts the server, creates the users and the documents
// folder, then runs this file with:
//   ZHISHU_URL          the server's base URL
//   ZHISHU_DOCS         a folder under ingest.roots holding the test documents
//   ZHISHU_PASSWORD     the password of the users admin, officer and emma
//   ZHISHU_SSO_USER     who is signed in at the fake OIDC provider
//   ZHISHU_LIMITED_URL  a second server that allows each user one request a
//                       minute (emma exists there too)
//   ZHISHU_SCREENSHOTS  where to save screenshots (optional)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//
// The tests run in order and share the server: the admin ingests and asks,
// the officer then finds that very exchange in the audit trail.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.ZHISHU_URL;
const DOCS = process.env.ZHISHU_DOCS;
const FLAGGED_DOCS = process.env.ZHISHU_FLAGGED_DOCS;
const PASSWORD = process.env.ZHISHU_PASSWORD;
const SHOTS = process.env.ZHISHU_SCREENSHOTS;
const QUESTION = "What is the emergency vault code for Project Kestrel?";
if (!BASE || !DOCS || !PASSWORD) {
  throw new Error("run through tests/web_ui.rs: ZHISHU_URL, ZHISHU_DOCS and ZHISHU_PASSWORD are required");
}

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

/** A fresh browser context (own cookies and storage) that fails the test on
 *  any console error or uncaught exception. */
async function session(t, { language = "en", allow = null, viewport = { width: 1440, height: 900 } } = {}) {
  const context = await browser.newContext({
    viewport,
    locale: language === "zh" ? "zh-CN" : "en-US",
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    // Expected: /v1/auth/me answers 401 before sign-in; a test may expect
    // more (`allow`).
    if (m.type() !== "error" || /status of 401/.test(m.text())) return;
    if (allow && allow.test(m.text())) return;
    problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], "no console errors");
  });
  return page;
}

async function signIn(page, user, base = BASE) {
  await page.goto(base + "/");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, name), fullPage: false });
}

test("a wrong password is refused plainly", async (t) => {
  const page = await session(t);
  await page.goto(BASE + "/");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "invalid username or password" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);
});

test("single sign-on signs in the provider's user, with the provider's roles", async (t) => {
  const page = await session(t);
  await page.goto(BASE + "/");
  await page.getByRole("link", { name: "Sign in with single sign-on" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  assert.equal(await page.locator(".who").innerText(), process.env.ZHISHU_SSO_USER);
  const nav = page.getByRole("navigation", { name: "Main navigation" });
  assert.deepEqual(await nav.getByRole("link").allTextContents(), ["Chat"], "an employee at the provider");
  // Sign-out ends the session: a reload shows the sign-in form.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
  await page.reload();
  await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
});

test("an admin ingests a folder, asks, sees the answer stream and opens its citation", async (t) => {
  const page = await session(t);
  await signIn(page, "admin");
  const nav = page.getByRole("navigation", { name: "Main navigation" });
  assert.deepEqual(await nav.getByRole("link").allTextContents(), ["Chat", "Library"]);

  // Library: start an ingestion and watch it finish from the live events.
  await nav.getByRole("link", { name: "Library" }).click();
  await page.getByLabel("Folder on the server").fill(DOCS);
  await page.getByLabel("Collection", { exact: true }).fill("security");
  await page.getByLabel("Access groups (comma-separated)").fill("security");
  await page.getByRole("button", { name: "Start ingestion" }).click();
  const progress = page.getByRole("status").filter({ hasText: "files" });
  await progress.getByText("Finished: succeeded").waitFor({ timeout: 120_000 });
  assert.match(await progress.innerText(), /3 of 3 files/);
  // The broken file is listed with its error; the job went on.
  await progress.getByText("broken.pdf").waitFor();
  const docs = page.locator("table.docs");
  await docs.getByText("Kestrel", { exact: false }).first().waitFor();
  assert.match(await docs.innerText(), /indexed/);
  await shot(page, "library.png");

  // Chat: the answer streams in, then cites the manual's page 2.
  await nav.getByRole("link", { name: "Chat" }).click();
  const box = page.getByLabel("Your question");
  await box.fill(QUESTION);
  await box.press("Enter");
  const answer = page.locator("article.msg.assistant").last();
  // While it streams, the stop button replaces send and the answer grows.
  await page.getByRole("button", { name: "Stop" }).waitFor();
  await answer.locator(".answer").filter({ hasText: /\S/ }).waitFor({ timeout: 120_000 });
  await answer.and(page.locator(":not(.streaming)")).waitFor({ timeout: 300_000 });
  await page.getByRole("button", { name: "Send" }).waitFor();
  const text = await answer.locator(".answer").innerText();
  assert.match(text, /4471-ZETA/, `the fact is in the answer: ${text}`);
  // The conversation is stored and listed.
  await page.locator(".conversations a", { hasText: "emergency vault code" }).waitFor();
  assert.match(page.url(), /#\/chat\/.+/);

  const chip = answer.locator(".sources button.chip", { hasText: "Kestrel" }).first();
  await chip.click();
  const panel = page.getByRole("complementary").filter({ has: page.locator("#cite-title") });
  await panel.waitFor();
  // The whole passage, not only its start.
  const passage = await panel.locator(".passage").innerText();
  assert.match(passage, /4471-ZETA/);
  assert.match(passage, /changes the code every quarter/);
  assert.equal(await panel.locator(".cite-page").innerText(), "2");
  // The cited page, rendered by the server with the passage marked, loads
  // with the session's cookie; the original can be downloaded.
  const image = panel.getByRole("img", { name: "Page 2 with the passage marked" });
  await image.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await image.elementHandle(), {
    timeout: 60_000,
  });
  assert.equal(await image.evaluate((el) => el.naturalWidth), 900);
  const download = panel.getByRole("link", { name: "Download the original file" });
  assert.match(await download.getAttribute("href"), /^\/v1\/documents\/[^/]+\/file$/);
  await shot(page, "chat.png");
  // Escape closes the panel (keyboard users).
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });

  // Deleting a document, after a confirmation, removes it from the list.
  await nav.getByRole("link", { name: "Library" }).click();
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete canteen" }).click();
  await page.getByRole("status").filter({ hasText: "Deleted “canteen”." }).waitFor();
  await page.locator("table.docs").getByText("canteen.md").waitFor({ state: "detached" });
  assert.match(await page.locator("table.docs").innerText(), /kestrel-manual/);
});

test("the stop button ends an answer, and the server records it as cancelled", async (t) => {
  const page = await session(t);
  await signIn(page, "emma");
  const box = page.getByLabel("Your question");
  await box.fill("Tell me about the office canteen and its opening hours.");
  await box.press("Enter");
  const answer = page.locator("article.msg.assistant").last();
  await answer.locator(".answer").filter({ hasText: /\S/ }).waitFor({ timeout: 120_000 });
  await page.getByRole("button", { name: "Stop" }).click();
  await answer.getByText("Stopped.").waitFor();
  await page.getByRole("button", { name: "Send" }).waitFor({ state: "attached" });
  assert.equal(await box.isEditable(), true);
});

test("a rate-limited user is told plainly when to retry", async (t) => {
  // The refused request is the point; its 429 in the console is expected.
  const page = await session(t, { allow: /status of 429/ });
  // Loading the conversations takes the one request of this minute. The
  // question must wait for that load to be answered: sent while it is still
  // in flight, the question could reach the server first, take the token
  // and be answered.
  const listed = page.waitForResponse((r) => r.url().includes("/v1/conversations?"));
  await signIn(page, "emma", process.env.ZHISHU_LIMITED_URL);
  await listed;
  const box = page.getByLabel("Your question");
  await box.fill("What are the office hours?");
  await box.press("Enter");
  const error = page.locator("article.msg.assistant").last().getByRole("alert");
  await error.waitFor();
  assert.match(await error.innerText(), /^Too many requests\. Retry in \d+ s\.$/);
  await page.getByRole("button", { name: "Send" }).waitFor({ state: "attached" });
});

test("Enter while an input method is composing does not send", async (t) => {
  const page = await session(t);
  await signIn(page, "emma");
  const box = page.getByLabel("Your question");
  await box.fill("知识");
  // What Chrome sends when an IME confirms a candidate with Enter.
  await box.evaluate((el) => {
    el.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", keyCode: 229, isComposing: true, bubbles: true }));
  });
  assert.equal(await box.inputValue(), "知识");
  assert.equal(await page.locator("article.msg").count(), 0, "nothing was sent");
});

test("a compliance officer finds the exchange, opens it, exports it and verifies the chain", async (t) => {
  const page = await session(t);
  await signIn(page, "officer");
  const nav = page.getByRole("navigation", { name: "Main navigation" });
  assert.deepEqual(await nav.getByRole("link").allTextContents(), ["Chat", "Compliance"]);
  await nav.getByRole("link", { name: "Compliance" }).click();

  await page.getByLabel("User", { exact: true }).fill("admin");
  await page.getByLabel("Action", { exact: true }).fill("chat.completion");
  await page.getByLabel("Text", { exact: true }).fill("vault code");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  // The unfiltered trail shows first; the search narrows it to exactly the
  // admin's one exchange (or this times out).
  const rows = page.locator("table.events tbody tr");
  await page.waitForFunction(() => document.querySelectorAll("table.events tbody tr").length === 1, null, {
    timeout: 10_000,
  });
  assert.match(await rows.first().innerText(), /admin/);
  await rows.first().getByRole("button", { name: "chat.completion" }).click();
  const detail = page.locator("aside.event-detail");
  await detail.waitFor();
  assert.match(await detail.locator(".detail-question").innerText(), /emergency vault code/);
  assert.match(await detail.locator(".detail-answer").innerText(), /4471-ZETA/);
  assert.match(await detail.innerText(), /Retrieved sources/);
  assert.match(await detail.innerText(), /sha256 [0-9a-f]{64}/);
  // Each retrieved source names its document, path and page as they were,
  // and the officer can read the passage itself.
  const source = detail.locator("table.sources tbody tr").filter({ hasText: /kestrel-manual\.pdf/ }).first();
  await source.getByRole("button", { name: "Read" }).click();
  await detail.locator(".passage-view blockquote").waitFor();
  assert.match(await detail.locator(".passage-view").innerText(), /Kestrel/);
  await shot(page, "console.png");

  // Export the current filter: the download holds that exchange only.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "JSONL" }).click(),
  ]);
  const lines = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.equal(lines.length, 1, lines.join("\n"));
  const exported = JSON.parse(lines[0]);
  assert.equal(exported.action ?? exported.event?.action, "chat.completion");
  assert.match(JSON.stringify(exported), /4471-ZETA/);

  await page.getByRole("button", { name: "Verify integrity" }).click();
  await page.getByText(/Chain intact: \d+ events checked/).waitFor();

  // The answer emma stopped is on record as cancelled, with her question.
  await page.getByLabel("User", { exact: true }).fill("emma");
  await page.getByLabel("Text", { exact: true }).fill("");
  await page.getByLabel("Outcome").selectOption("cancelled");
  let found = false;
  for (let i = 0; i < 20 && !found; i++) {
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.waitForTimeout(500);
    found = (await rows.filter({ hasText: "canteen" }).count()) === 1;
  }
  assert.ok(found, "the stopped exchange is audited as cancelled");
});

test("the layout fits a small laptop and a wide screen", async (t) => {
  for (const viewport of [{ width: 1024, height: 640 }, { width: 2560, height: 1440 }]) {
    const page = await session(t, { viewport });
    await signIn(page, "officer");
    for (const path of ["#/chat", "#/console"]) {
      await page.goto(BASE + "/" + path);
      await page.getByRole("navigation", { name: "Main navigation" }).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${viewport.width}px ${path}: ${overflow}px of horizontal scrolling`);
    }
    await page.close();
  }
});

test("an employee is shown no console and cannot reach it", async (t) => {
  // The test's own call to the audit API below is refused: that 403 is
  // the point.
  const page = await session(t, { allow: /status of 403/ });
  await signIn(page, "emma");
  const nav = page.getByRole("navigation", { name: "Main navigation" });
  assert.deepEqual(await nav.getByRole("link").allTextContents(), ["Chat"]);
  await page.goto(BASE + "/#/console");
  await page.getByRole("heading", { name: "Not available" }).waitFor();
  assert.equal(await page.locator("table.events").count(), 0);
  // And the server refuses the API itself, with the session cookie.
  const status = await page.evaluate(async () => (await fetch("/v1/audit/events")).status);
  assert.equal(status, 403);
});

test("the language switch turns the UI into Chinese and is remembered", async (t) => {
  const page = await session(t);
  await signIn(page, "emma");
  await page.getByLabel("Language").selectOption("zh");
  await page.getByRole("button", { name: "退出登录" }).waitFor();
  await page.getByRole("link", { name: "问答" }).waitFor();
  await page.reload();
  await page.getByRole("button", { name: "新建会话" }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  await shot(page, "chat-zh.png");
});

test("an answer the content filter stops is shown as stopped by it", async (t) => {
  // Administrators block, in answers, the words a short English answer
  // cannot avoid; the list is removed again whatever happens.
  const admin = await session(t);
  await signIn(admin, "admin");
  const words = ["the", "is", "a", "an", "to", "and", "of", "in", "it", "you", "at", "i", "not", "are", "this",
    "that", "for", "with", "be", "no", "can", "documents", "sources", "answer"].map((w) => `${w} | word`).join("\n");
  const put = await admin.evaluate(
    async (body) => (await fetch("/v1/guard/lexicons/e2e", { method: "PUT", body })).status,
    words + "\n",
  );
  assert.equal(put, 200);
  try {
    const page = await session(t);
    await signIn(page, "emma");
    const box = page.getByLabel("Your question");
    await box.fill("When does office open?");
    await box.press("Enter");
    const answer = page.locator("article.msg.assistant").last();
    await answer.getByText("The content filter stopped this answer.").waitFor({ timeout: 120_000 });
    assert.match(await answer.innerText(), /\[The answer was stopped by the content filter\.\]/);
    await page.getByRole("button", { name: "Send" }).waitFor({ state: "attached" });
  } finally {
    const gone = await admin.evaluate(async () => (await fetch("/v1/guard/lexicons/e2e", { method: "DELETE" })).status);
    assert.equal(gone, 204);
  }
});

test("a document that addresses the assistant is marked flagged in the library", async (t) => {
  const page = await session(t);
  await signIn(page, "admin");
  await page.getByRole("navigation", { name: "Main navigation" }).getByRole("link", { name: "Library" }).click();
  // The last test: no chat after it retrieves the note. The admin's own
  // group, since the library lists only what its reader may read.
  await page.getByLabel("Folder on the server").fill(FLAGGED_DOCS);
  await page.getByLabel("Collection", { exact: true }).fill("vendor-notes");
  await page.getByLabel("Access groups (comma-separated)").fill("security");
  await page.getByRole("button", { name: "Start ingestion" }).click();
  const progress = page.getByRole("status").filter({ hasText: "files" });
  await progress.getByText("Finished: succeeded").waitFor({ timeout: 120_000 });
  const row = page.locator("table.docs tr").filter({ hasText: "vendor-notes.md" });
  await row.waitFor();
  // Indexed, flagged, and the badge says by which rule.
  assert.match(await row.innerText(), /indexed/);
  const badge = row.locator(".badge.flagged");
  assert.equal(await badge.innerText(), "Flagged");
  assert.match(await badge.getAttribute("title"), /injection\.indirect \(flag ×\d+\)/);
});
