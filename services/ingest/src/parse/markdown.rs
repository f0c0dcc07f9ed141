//! Markdown: headings (ATX and setext), paragraphs, lists, code and tables.

use super::{BlockKind, Parsed, Table};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub(crate) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut buf = String::new();
    let mut heading: Option<u8> = None;
    let mut in_table = false;
    let mut table = Table::default();
    let mut row: Vec<String> = Vec::new();
    for event in Parser::new_ext(text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                parsed.push(BlockKind::Paragraph, &buf, None);
                buf.clear();
                heading = Some(match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                });
            }
            Event::End(TagEnd::Heading(_)) => {
                parsed.push(BlockKind::Heading(heading.take().unwrap_or(1)), &buf, None);
                buf.clear();
            }
            Event::Start(Tag::Table(_)) => {
                parsed.push(BlockKind::Paragraph, &buf, None);
                buf.clear();
                in_table = true;
            }
            Event::End(TagEnd::Table) => {
                parsed.push_table(&std::mem::take(&mut table), None);
                in_table = false;
            }
            Event::End(TagEnd::TableCell) => row.push(std::mem::take(&mut buf)),
            Event::End(TagEnd::TableHead) => table.header = std::mem::take(&mut row),
            Event::End(TagEnd::TableRow) => table.rows.push(std::mem::take(&mut row)),
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::Item) if !in_table => {
                parsed.push(BlockKind::Paragraph, &buf, None);
                buf.clear();
            }
            Event::Text(t) | Event::Code(t) => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => buf.push(' '),
            _ => {}
        }
    }
    parsed.push(BlockKind::Paragraph, &buf, None);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_paragraphs_and_tables() {
        let p = parse(
            "# 差旅政策\n\nIntro *text*.\n\n## Hotels\n\n| city | limit |\n|---|---|\n| 北京 | 600 |\n\n- item one\n- item two\n",
        );
        let got: Vec<(BlockKind, &str)> =
            p.blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
        assert_eq!(got[0], (BlockKind::Heading(1), "差旅政策"));
        assert_eq!(got[1], (BlockKind::Paragraph, "Intro text."));
        assert_eq!(got[2], (BlockKind::Heading(2), "Hotels"));
        assert_eq!(got[3].0, BlockKind::Table);
        assert_eq!(got[3].1, "| city | limit |\n| --- | --- |\n| 北京 | 600 |");
        assert_eq!(got[4], (BlockKind::Paragraph, "item one"));
        assert_eq!(p.title.as_deref(), Some("差旅政策"));
    }
}
