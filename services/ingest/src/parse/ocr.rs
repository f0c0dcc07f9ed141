//! OCR with Tesseract, run as its command-line program.
//!
//! Why the program and not a binding: the distribution's `tesseract` is
//! the maintained build, with its language packs beside it
//! (`tesseract-ocr-chi-sim`, `-chi-tra`, `-eng`); a child process is also
//! what makes a page cancellable and time-limited — it is killed, which no
//! in-process call can be — and a crash in its image decoders costs one
//! file, not the server. The image goes in on stdin and the words come back
//! as TSV on stdout (page, block, paragraph, line, word, box, confidence),
//! so nothing touches the disk.
//!
//! Tesseract writes Chinese one character per "word"; words are rejoined
//! with [`super::layout::join`], so Chinese reads without spaces and
//! English with them.

use super::layout::{Para, join};
use super::{ParseError, Rect, Watch};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A Tesseract program with its languages, checked to be there.
#[derive(Debug, Clone)]
pub(crate) struct Ocr {
    program: PathBuf,
    /// `chi_sim+chi_tra+eng`.
    languages: String,
    timeout: Duration,
}

/// One recognised page of an image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OcrPage {
    /// 1-based page of the image (TIFFs have several).
    pub page: u32,
    /// Paragraphs, boxes as fractions of the page.
    pub paras: Vec<Para>,
}

impl Ocr {
    /// Checks that `program` runs and has every language in `languages`.
    ///
    /// # Errors
    /// What is missing and the package that provides it.
    pub(crate) fn probe(
        program: &Path,
        languages: &[String],
        timeout: Duration,
    ) -> Result<Self, String> {
        let out = Command::new(program)
            .arg("--list-langs")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "Tesseract is not available ({}: {e}); install it (apt-get install tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra) or set ingest.tesseract",
                    program.display()
                )
            })?;
        let listed = String::from_utf8_lossy(&out.stdout);
        let have: Vec<&str> = listed.lines().skip(1).map(str::trim).collect();
        let missing: Vec<&String> = languages
            .iter()
            .filter(|l| !have.contains(&l.as_str()))
            .collect();
        if !missing.is_empty() {
            let packages: Vec<String> = missing
                .iter()
                .map(|l| format!("tesseract-ocr-{}", l.replace('_', "-")))
                .collect();
            return Err(format!(
                "Tesseract has no language data for {} (apt-get install {}), or remove them from ingest.ocr_languages",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                packages.join(" ")
            ));
        }
        Ok(Self {
            program: program.to_path_buf(),
            languages: languages.join("+"),
            timeout,
        })
    }

    /// A description for readiness: the program and its languages.
    pub(crate) fn describe(&self) -> String {
        format!("tesseract ({})", self.languages)
    }

    /// Recognises an image file's bytes (any format Leptonica reads; every
    /// page of a TIFF). `dpi` tells Tesseract the resolution where the
    /// image does not (rendered PDF pages); `pages` scales the time limit.
    ///
    /// # Errors
    /// [`ParseError::Ocr`] when Tesseract fails or runs past its time,
    /// [`ParseError::Cancelled`] when the job is cancelled meanwhile.
    pub(crate) fn recognise(
        &self,
        image: &[u8],
        dpi: Option<u32>,
        pages: u32,
        watch: &Watch<'_>,
    ) -> Result<Vec<OcrPage>, ParseError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["stdin", "stdout", "-l", &self.languages, "--psm", "3"]);
        if let Some(dpi) = dpi {
            cmd.args(["--dpi", &dpi.to_string()]);
        }
        cmd.arg("tsv")
            // One thread per page: on a shared machine Tesseract's OpenMP
            // threads cost more than they give (its own advice).
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| ParseError::Ocr(format!("cannot start Tesseract: {e}")))?;
        // Feed and drain on threads so neither pipe can fill and stall; the
        // feeding thread borrows the image (a scoped thread, no copy).
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            pipe.map(|mut p| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = p.read_to_end(&mut buf);
                    buf
                })
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = std::thread::scope(|scope| {
            if let Some(mut stdin) = child.stdin.take() {
                // Joined when the scope ends: a Tesseract that exits or is
                // killed closes the pipe, so the write returns.
                scope.spawn(move || {
                    let _ = stdin.write_all(image);
                });
            }
            self.wait(&mut child, pages, watch)
        })?;
        let out = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
        let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        if !status.success() {
            let err = String::from_utf8_lossy(&err);
            let reason = err
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("Error") || l.contains("Cannot") || l.contains("cannot"))
                .unwrap_or("it could not read the image");
            return Err(ParseError::Ocr(format!("OCR failed: {reason}")));
        }
        Ok(parse_tsv(&String::from_utf8_lossy(&out)))
    }

    /// Waits for Tesseract within its time (`ingest.ocr_page_timeout_secs`
    /// per page), killing it when the job is cancelled or the time is up.
    fn wait(
        &self,
        child: &mut std::process::Child,
        pages: u32,
        watch: &Watch<'_>,
    ) -> Result<std::process::ExitStatus, ParseError> {
        let limit = self.timeout * pages.max(1);
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(status);
            }
            if watch.cancelled() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ParseError::Cancelled);
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ParseError::Ocr(format!(
                    "OCR took longer than {} s (ingest.ocr_page_timeout_secs per page)",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Character accuracy of recognised text against the truth, whitespace
/// ignored: `1 − edit distance / truth length`, floored at 0. The measure
/// OCR evaluations report (ISRI's), so numbers compare across engines.
pub fn char_accuracy(truth: &str, got: &str) -> f64 {
    let t: Vec<char> = truth.chars().filter(|c| !c.is_whitespace()).collect();
    let g: Vec<char> = got.chars().filter(|c| !c.is_whitespace()).collect();
    if t.is_empty() {
        return if g.is_empty() { 1.0 } else { 0.0 };
    }
    let mut prev: Vec<usize> = (0..=g.len()).collect();
    for (i, a) in t.iter().enumerate() {
        let mut row = vec![i + 1; g.len() + 1];
        for (j, b) in g.iter().enumerate() {
            row[j + 1] = (prev[j] + usize::from(a != b))
                .min(prev[j + 1] + 1)
                .min(row[j] + 1);
        }
        prev = row;
    }
    (1.0 - prev[g.len()] as f64 / t.len() as f64).max(0.0)
}

/// Words under this confidence are dropped with their line when the whole
/// line averages below it: what Tesseract "reads" in noise, stamps and
/// photos.
const MIN_LINE_CONFIDENCE: f32 = 30.0;

/// Pages, paragraphs and lines from Tesseract's TSV output.
pub(crate) fn parse_tsv(tsv: &str) -> Vec<OcrPage> {
    struct Word<'a> {
        key: (u32, u32, u32, u32),
        rect: [f32; 4],
        conf: f32,
        text: &'a str,
    }
    let mut pages: Vec<(u32, f32, f32)> = Vec::new();
    let mut words: Vec<Word<'_>> = Vec::new();
    for row in tsv.lines().skip(1) {
        let f: Vec<&str> = row.splitn(12, '\t').collect();
        if f.len() < 12 {
            continue;
        }
        let n = |i: usize| f[i].trim().parse::<f32>().unwrap_or(-1.0);
        let level = n(0) as i32;
        let page = n(1).max(1.0) as u32;
        let (l, t, w, h) = (n(6), n(7), n(8), n(9));
        match level {
            1 => pages.push((page, w.max(1.0), h.max(1.0))),
            5 if !f[11].trim().is_empty() && n(10) >= 0.0 => words.push(Word {
                key: (page, n(2) as u32, n(3) as u32, n(4) as u32),
                rect: [l, t, l + w, t + h],
                conf: n(10),
                text: f[11].trim(),
            }),
            _ => {}
        }
    }
    let mut out: Vec<OcrPage> = pages
        .iter()
        .map(|&(page, _, _)| OcrPage {
            page,
            paras: Vec::new(),
        })
        .collect();
    let mut last_para: Option<(u32, u32, u32)> = None;
    let mut i = 0;
    while i < words.len() {
        // One line: consecutive words with the same page/block/par/line.
        let key = words[i].key;
        let mut j = i;
        while j < words.len() && words[j].key == key {
            j += 1;
        }
        let line = &words[i..j];
        i = j;
        let conf = line.iter().map(|w| w.conf).sum::<f32>() / line.len() as f32;
        if conf < MIN_LINE_CONFIDENCE {
            continue;
        }
        let Some(&(_, width, height)) = pages.iter().find(|p| p.0 == key.0) else {
            continue;
        };
        let mut text = String::new();
        let mut r = line[0].rect;
        for w in line {
            join(&mut text, w.text);
            r = [
                r[0].min(w.rect[0]),
                r[1].min(w.rect[1]),
                r[2].max(w.rect[2]),
                r[3].max(w.rect[3]),
            ];
        }
        let rect = Rect {
            x0: (r[0] / width).clamp(0.0, 1.0),
            y0: (r[1] / height).clamp(0.0, 1.0),
            x1: (r[2] / width).clamp(0.0, 1.0),
            y1: (r[3] / height).clamp(0.0, 1.0),
        };
        let Some(page) = out.iter_mut().find(|p| p.page == key.0) else {
            continue;
        };
        // Same block and paragraph as the last line: the same paragraph.
        let para_key = (key.0, key.1, key.2);
        match page.paras.last_mut() {
            Some(p) if last_para == Some(para_key) => {
                join(&mut p.text, &text);
                p.boxes.push(rect);
                p.lines += 1;
            }
            _ => page.paras.push(Para {
                text,
                boxes: vec![rect],
                // OCR has no type size: never a heading by size.
                size: 0.0,
                lines: 1,
                table: false,
            }),
        }
        last_para = Some(para_key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t1000\t2000\t-1\t
2\t1\t1\t0\t0\t0\t100\t100\t800\t100\t-1\t
5\t1\t1\t1\t1\t1\t100\t100\t40\t40\t91.5\t差
5\t1\t1\t1\t1\t2\t140\t100\t40\t40\t90.1\t旅
5\t1\t1\t1\t1\t3\t190\t100\t90\t40\t88.0\tpolicy
5\t1\t1\t1\t2\t1\t100\t150\t40\t40\t93.0\t费
5\t1\t1\t1\t2\t2\t140\t150\t40\t40\t92.0\t用
5\t1\t2\t1\t1\t1\t100\t600\t40\t40\t12.0\t~
5\t1\t2\t1\t1\t2\t140\t600\t40\t40\t8.0\t;
5\t1\t3\t1\t1\t1\t100\t900\t300\t40\t85.0\tSecond paragraph
1\t2\t0\t0\t0\t0\t0\t0\t500\t500\t-1\t
5\t2\t1\t1\t1\t1\t50\t50\t100\t50\t80.0\t第二页
";

    #[test]
    fn tsv_words_become_lines_and_paragraphs_per_page() {
        let pages = parse_tsv(TSV);
        assert_eq!(pages.len(), 2);
        let p1: Vec<&str> = pages[0].paras.iter().map(|p| p.text.as_str()).collect();
        // Chinese without spaces, English with; the noise line is dropped.
        assert_eq!(p1, ["差旅policy费用", "Second paragraph"]);
        assert_eq!(pages[0].paras[0].boxes.len(), 2);
        let b = pages[0].paras[0].boxes[0];
        assert_eq!((b.x0, b.y0, b.x1, b.y1), (0.1, 0.05, 0.28, 0.07));
        assert_eq!(pages[1].page, 2);
        assert_eq!(pages[1].paras[0].text, "第二页");
        assert!(pages.iter().flat_map(|p| &p.paras).all(|p| p.size == 0.0));
    }

    #[test]
    fn accuracy_counts_edits_against_the_truth() {
        assert_eq!(char_accuracy("差旅费用", "差旅费用"), 1.0);
        assert_eq!(char_accuracy("差旅 费用", "差 旅费 用"), 1.0);
        assert_eq!(char_accuracy("差旅费用", "差旋费用"), 0.75);
        assert_eq!(char_accuracy("abcd", ""), 0.0);
        assert_eq!(char_accuracy("ab", "xxxxxxxx"), 0.0);
    }

    #[test]
    fn garbage_tsv_gives_nothing_and_no_panic() {
        assert!(parse_tsv("").is_empty());
        assert!(parse_tsv("header\n5\tx\ty\n\t\t\t\t\t\t\t\t\t\t\t\t\n").is_empty());
    }
}
