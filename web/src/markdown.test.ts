// Answers are rendered from Markdown a model wrote after reading untrusted
// documents: what must render, and what must never run.
import { describe, expect, it } from "vitest";
import { renderAnswer } from "./markdown";

const render = (text: string) => renderAnswer(text, (n) => `Source ${n}`);

describe("renderAnswer", () => {
  it("renders code blocks and tables", () => {
    const html = render("Run:\n\n```sh\nzhishu ingest ./docs\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
    expect(html).toContain('<pre><code class="language-sh">zhishu ingest ./docs');
    expect(html).toContain('<div class="table-wrap"><table>');
    expect(html).toContain("<td>1</td>");
  });

  it("turns citation markers into buttons, in both scripts", () => {
    const html = render("The code is 4471-ZETA [1]. 根据文件[2，3]。");
    expect(html).toContain('<button type="button" class="cite" data-cite="1" aria-label="Source 1">1</button>');
    expect(html).toContain('data-cite="2"');
    expect(html).toContain('data-cite="3"');
    expect(html).not.toContain("[1]");
  });

  it("leaves links alone", () => {
    const html = render("See [1](https://example.com/a).");
    expect(html).toContain('<a href="https://example.com/a">1</a>');
    expect(html).not.toContain("data-cite");
  });

  it("never renders raw HTML or script links", () => {
    const html = render('<img src=x onerror="alert(1)"> <script>alert(2)</script> [x](javascript:alert(3))');
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;");
    expect(html).not.toContain('href="javascript:');
  });
});
