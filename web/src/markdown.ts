// Answers are Markdown written by a model that read untrusted documents,
// so raw HTML is never rendered (markdown-it escapes it with `html: false`)
// and links are limited to http(s) and mailto. `[n]` citation markers
// become buttons that open the source panel.

import MarkdownIt from "markdown-it";
import type { StateInline } from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: true, breaks: true });

md.validateLink = (url: string) => /^(https?:|mailto:)/i.test(url.trim());

// `[1]`, `[1, 2]`, `[1][2]`, also with full-width commas: not a link
// (`[1](…)`) and not a footnote definition.
const MARKER = /^\[(\d{1,4}(?:\s*[,，、]\s*\d{1,4})*)\](?!\()/;

function citation(state: StateInline, silent: boolean): boolean {
  if (state.src.charCodeAt(state.pos) !== 0x5b /* [ */) return false;
  const m = MARKER.exec(state.src.slice(state.pos));
  if (!m) return false;
  if (!silent) {
    const token = state.push("citation", "", 0);
    token.meta = { numbers: m[1].split(/\s*[,，、]\s*/).map(Number) };
  }
  state.pos += m[0].length;
  return true;
}

md.inline.ruler.before("link", "citation", citation);

let label = (n: number) => `Source ${n}`;

md.renderer.rules.citation = (tokens, idx) =>
  ((tokens[idx].meta?.numbers ?? []) as number[])
    .map(
      (n) =>
        `<button type="button" class="cite" data-cite="${n}" aria-label="${md.utils.escapeHtml(label(n))}">${n}</button>`,
    )
    .join("");

// Tables scroll on narrow screens instead of breaking the layout.
md.renderer.rules.table_open = () => '<div class="table-wrap"><table>';
md.renderer.rules.table_close = () => "</table></div>";

/** Renders an answer to HTML; `cite` labels the citation buttons. */
export function renderAnswer(text: string, cite: (n: number) => string): string {
  label = cite;
  return md.render(text);
}
