//! HTML: the main text and its headings; scripts, styles, navigation,
//! headers, footers and asides are dropped. When the page marks its main
//! content (`<main>`, `<article>`), only that is read.

use super::{BlockKind, Parsed, normalise_space};
use scraper::{ElementRef, Html, Node, Selector};

const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "svg", "iframe", "head",
];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "pre",
    "blockquote",
    "section",
    "article",
    "main",
    "dd",
    "dt",
    "dl",
    "figcaption",
    "br",
    "hr",
    "body",
];

pub(crate) fn parse(text: &str) -> Parsed {
    let doc = Html::parse_document(text);
    let mut parsed = Parsed::default();
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .map(|t| normalise_space(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let root = ["main", "article", "body"]
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .find_map(|s| doc.select(&s).next())
        .unwrap_or_else(|| doc.root_element());
    let mut buf = String::new();
    walk(root, &mut parsed, &mut buf);
    parsed.push(BlockKind::Paragraph, &buf, None);
    if title.is_some() {
        parsed.title = title;
    }
    parsed
}

fn walk(el: ElementRef<'_>, parsed: &mut Parsed, buf: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => buf.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) {
                    continue;
                }
                let Some(child_el) = ElementRef::wrap(child) else {
                    continue;
                };
                let level = match name {
                    "h1" => Some(1),
                    "h2" => Some(2),
                    "h3" => Some(3),
                    "h4" => Some(4),
                    "h5" => Some(5),
                    "h6" => Some(6),
                    _ => None,
                };
                if let Some(level) = level {
                    parsed.push(BlockKind::Paragraph, buf, None);
                    buf.clear();
                    let text: String = child_el.text().collect();
                    parsed.push(BlockKind::Heading(level), &text, None);
                } else if BLOCKS.contains(&name) {
                    parsed.push(BlockKind::Paragraph, buf, None);
                    buf.clear();
                    walk(child_el, parsed, buf);
                    parsed.push(BlockKind::Paragraph, buf, None);
                    buf.clear();
                } else {
                    if name == "td" || name == "th" {
                        buf.push(' ');
                    }
                    walk(child_el, parsed, buf);
                    if name == "td" || name == "th" {
                        buf.push_str(" |");
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_main_text_and_headings_drops_chrome() {
        let p = parse(
            r#"<html><head><title>报销制度 Expense policy</title><style>p{color:red}</style></head>
            <body><nav><a href="/">Home</a> Menu</nav>
            <main><h1>Travel</h1><p>Hotels up to <b>600</b> yuan.</p>
            <script>alert("x")</script><h2>住宿</h2><p>一线城市每晚六百元。</p></main>
            <footer>© ACME</footer></body></html>"#,
        );
        let got: Vec<(BlockKind, &str)> =
            p.blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (BlockKind::Heading(1), "Travel"),
                (BlockKind::Paragraph, "Hotels up to 600 yuan."),
                (BlockKind::Heading(2), "住宿"),
                (BlockKind::Paragraph, "一线城市每晚六百元。"),
            ]
        );
        assert_eq!(p.title.as_deref(), Some("报销制度 Expense policy"));
    }
}
