//! Folder ingestion end to end on real files and real stores: PDFs from
//! npm's pdf-parse (one broken), DOCX and XLSX written here with libraries,
//! GB18030 Chinese text, HTML, Markdown, CSV; then re-runs with changes,
//! renames and deletions, checking that no store ever holds a duplicate or
//! an orphan.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhishu_encoders::{Embedder, EncoderWorker, TextKind, WorkerConfig};
use zhishu_ingest::chunk::{ChunkConfig, TokenCounter};
use zhishu_ingest::sync::{JobSpec, Pipeline, Progress, Stores, Summary};
use zhishu_retrieval::{LexicalIndex, Scope, SearchFilter, open_vectors_for_tests};
use zhishu_store::DocumentStatus;

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

struct Env {
    pipeline: Pipeline,
    db: zhishu_store::testing::TestDb,
    _dir: tempfile::TempDir,
}

async fn env(max_file_bytes: u64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let model = assets().join("models/all-MiniLM-L6-v2");
    let embedder = Embedder::load(&model).unwrap();
    let encoder = EncoderWorker::start(embedder, WorkerConfig::default()).unwrap();
    let db = zhishu_store::testing::sqlite().await;
    let pipeline = Pipeline {
        stores: Stores {
            vectors: open_vectors_for_tests(&dir.path().join("qdrant"), 384).unwrap(),
            lexical: Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap()).into(),
            registry: Arc::new(db.store.clone()),
        },
        encoder,
        embed_tokens: Arc::new(TokenCounter::load(&model).unwrap()),
        qwen_tokens: Arc::new(TokenCounter::load(&assets().join("tokenizers/qwen3")).unwrap()),
        chunking: ChunkConfig {
            max_tokens: 200,
            overlap_tokens: 32,
        },
        max_file_bytes,
        reader: Arc::new(zhishu_ingest::parse::Reader::new(
            &zhishu_core::config::IngestConfig::default(),
            &assets().join("pdfium/libpdfium.so"),
        )),
        // Far more often than the default, so every job here runs through
        // mid-job checkpoints of the vector store.
        checkpoint_points: 20,
        guard: None,
        keep_token_vectors: true,
    };
    Env {
        pipeline,
        db,
        _dir: dir,
    }
}

fn write_docx(path: &Path) {
    use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
    let file = std::fs::File::create(path).unwrap();
    Docx::new()
        .add_paragraph(
            Paragraph::new()
                .add_run(Run::new().add_text("Security Handbook"))
                .style("Heading1"),
        )
        .add_paragraph(Paragraph::new().add_run(
            Run::new().add_text(
                "Laptops must use full-disk encryption & a screen lock after five minutes.",
            ),
        ))
        .add_paragraph(
            Paragraph::new()
                .add_run(Run::new().add_text("Passwords"))
                .style("Heading2"),
        )
        .add_paragraph(
            Paragraph::new().add_run(Run::new().add_text("密码至少十二位，每九十天更换一次。")),
        )
        .add_table(Table::new(vec![
            TableRow::new(vec![
                TableCell::new()
                    .add_paragraph(Paragraph::new().add_run(Run::new().add_text("System"))),
                TableCell::new()
                    .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Owner"))),
            ]),
            TableRow::new(vec![
                TableCell::new()
                    .add_paragraph(Paragraph::new().add_run(Run::new().add_text("VPN"))),
                TableCell::new()
                    .add_paragraph(Paragraph::new().add_run(Run::new().add_text("NetOps team"))),
            ]),
        ]))
        .build()
        .pack(file)
        .unwrap();
}

fn write_xlsx(path: &Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Per diem").unwrap();
    sheet.write_string(0, 0, "City").unwrap();
    sheet.write_string(0, 1, "Hotel limit").unwrap();
    sheet.write_string(1, 0, "Shenzhen 深圳").unwrap();
    sheet.write_number(1, 1, 580.0).unwrap();
    sheet.write_string(2, 0, "Chengdu").unwrap();
    sheet.write_number(2, 1, 420.0).unwrap();
    book.save(path).unwrap();
}

/// A folder of mixed real documents.
fn corpus(root: &Path) {
    let d = |p: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    };
    std::fs::write(
        d("policies/travel.md"),
        "# 差旅政策 Travel policy\n\n## Hotels\n\nHotel stays in tier-one cities are reimbursed up to 600 yuan per night. Receipts are required.\n\n## 交通\n\n高铁二等座可以报销。Flights need manager approval.\n",
    )
    .unwrap();
    let (gbk, _, _) = encoding_rs::GB18030
        .encode("年假制度\n\n员工每年享有十五天带薪年假，未休年假可顺延至次年三月底。\n");
    std::fs::write(d("hr/annual-leave.txt"), &gbk).unwrap();
    std::fs::write(
        d("hr/onboarding.html"),
        "<html><head><title>Onboarding</title><script>var x=1;</script></head><body><nav>Home | About</nav><main><h1>First day</h1><p>New employees collect their badge from reception at nine.</p></main></body></html>",
    )
    .unwrap();
    std::fs::write(d("finance/rates.csv"), "currency,rate\nUSD,7.1\nEUR,7.8\n").unwrap();
    write_docx(&d("security/handbook.docx"));
    write_xlsx(&d("finance/per-diem.xlsx"));
    std::fs::write(d("misc/logo.bin"), [0u8, 1, 2, 3]).unwrap();
    // A duplicate of the travel policy under another name.
    std::fs::copy(root.join("policies/travel.md"), d("archive/travel-copy.md")).unwrap();
    for pdf in [
        "01-valid.pdf",
        "02-valid.pdf",
        "03-invalid.pdf",
        "04-valid.pdf",
    ] {
        std::fs::copy(assets().join("pdfs").join(pdf), d(&format!("pdfs/{pdf}"))).unwrap();
    }
}

fn spec(root: &Path, groups: &[&str], sync_deletes: bool) -> JobSpec {
    JobSpec {
        paths: vec![root.to_path_buf()],
        collection: "handbook".into(),
        access_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        recursive: true,
        sync_deletes,
    }
}

async fn run(env: &Env, spec: &JobSpec) -> Summary {
    env.pipeline
        .run(spec, Arc::new(Progress::default()), None)
        .await
        .unwrap()
}

/// Every registered document has exactly its registered chunks, at its
/// registered version, in both stores; and the stores hold nothing else.
async fn assert_consistent(env: &Env) {
    let stores = &env.pipeline.stores;
    let docs = stores
        .registry
        .list_documents(None, 10_000, 0)
        .await
        .unwrap();
    let mut expected = 0;
    let mut pages = 0;
    for d in &docs {
        let chunks = stores.registry.chunks(&d.id).await.unwrap();
        let want = if d.status == DocumentStatus::Indexed {
            chunks.len()
        } else {
            0
        };
        expected += want;
        pages += usize::from(want > 0);
        let v = stores.vectors.document_versions(&d.id).await.unwrap();
        let l = stores
            .lexical
            .tantivy()
            .unwrap()
            .document_versions(&d.id)
            .unwrap();
        assert_eq!(v.len(), want, "{}: vector chunks", d.source_path);
        assert_eq!(l.len(), want, "{}: lexical chunks", d.source_path);
        assert!(
            v.iter().chain(&l).all(|&x| x == d.version),
            "{}: only version {}",
            d.source_path,
            d.version
        );
    }
    let all = Scope::of_groups(["public", "hr", "eng"]);
    let any = SearchFilter::default();
    assert_eq!(
        stores.vectors.count(&all, &any).await.unwrap(),
        expected,
        "no orphan vectors"
    );
    assert_eq!(
        stores.lexical.tantivy().unwrap().count(&all, &any).unwrap(),
        expected,
        "no orphan lexical chunks"
    );
    assert_eq!(
        stores.lexical.tantivy().unwrap().num_chunks() as usize,
        expected
    );
    assert_eq!(
        stores.lexical.tantivy().unwrap().num_pages() as usize,
        pages,
        "one page per indexed document, none left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_indexed_then_kept_in_step() {
    let env = env(2 << 20).await;
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("docs");
    corpus(&root);

    let s = run(&env, &spec(&root, &["public"], true)).await;
    let failed: Vec<&str> = s.failed.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(failed.len(), 1, "{:?}", s.failed);
    assert!(failed[0].ends_with("03-invalid.pdf"), "{failed:?}");
    let skipped: Vec<String> = s
        .skipped
        .iter()
        .map(|f| format!("{} {}", f.path, f.reason))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("logo.bin") && s.contains("unsupported file type (.bin)"))
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("02-valid.pdf") && s.contains("over the 2097152-byte limit"))
    );
    assert_eq!(s.indexed, 9, "{s:?}");
    assert!(s.chunks >= 10);
    assert_consistent(&env).await;

    // PDFs keep their pages.
    let stores = &env.pipeline.stores;
    let public = Scope::of_groups(["public"]);

    // Every chunk keeps its token vectors in the lexical index, one row a
    // token the embedder read, packed a byte a value; the vector store's
    // payload does not carry them.
    let docs = stores.registry.list_documents(None, 100, 0).await.unwrap();
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for d in &docs {
            ids.extend(
                stores
                    .registry
                    .chunks(&d.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id),
            );
        }
        ids
    };
    let everyone = Scope::of_groups(["public", "hr", "eng"]);
    let lexical = stores
        .lexical
        .tantivy()
        .unwrap()
        .get_with_vectors(&ids, &everyone)
        .unwrap();
    assert_eq!(lexical.len(), ids.len());
    for c in &lexical {
        let kept = c
            .token_vectors
            .as_ref()
            .expect("token vectors kept at ingestion");
        assert_eq!(kept.form(), zhishu_encoders::TokenForm::Int8);
        assert_eq!(kept.width(), 384);
        assert_eq!(kept.bytes().len(), kept.rows() * 388);
        assert!(kept.rows() >= 3, "{}: {} rows", c.chunk_id, kept.rows());
        assert!(kept.rows() <= 512);
    }
    let vectors = stores.vectors.get(&ids, &everyone).await.unwrap();
    assert_eq!(vectors.len(), ids.len());
    assert!(vectors.iter().all(|c| c.token_vectors.is_none()));
    let pdf_hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search(
            "pdf",
            50,
            &public,
            &SearchFilter {
                path_prefix: Some(root.join("pdfs").display().to_string()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        pdf_hits
            .iter()
            .all(|h| h.chunk.page.is_some_and(|p| p >= 1))
    );

    // Chinese from a GB18030 file, found by BM25.
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search("带薪年假", 5, &public, &SearchFilter::default())
        .unwrap();
    assert!(hits[0].chunk.path.ends_with("annual-leave.txt"), "{hits:?}");
    assert!(hits[0].chunk.text.contains("十五天"));
    // DOCX heading path and table.
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search("encryption laptops", 5, &public, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits[0].chunk.section_path, "Security Handbook");
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search("VPN owner", 5, &public, &SearchFilter::default())
        .unwrap();
    assert!(hits[0].chunk.text.contains("NetOps"), "{hits:?}");
    // XLSX rows with their headers.
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search("Shenzhen hotel limit", 5, &public, &SearchFilter::default())
        .unwrap();
    let t = &hits[0].chunk.text;
    assert!(
        t.contains("| City | Hotel limit |") && t.contains("| Shenzhen 深圳 | 580 |"),
        "{t:?}"
    );
    // HTML without its script and navigation.
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search("badge reception", 5, &public, &SearchFilter::default())
        .unwrap();
    assert!(!hits[0].chunk.text.contains("var x") && !hits[0].chunk.text.contains("About"));
    // A paraphrase, found by the vectors.
    let q = env
        .pipeline
        .encoder
        .embed(
            vec!["how much can I spend on a hotel room per night".into()],
            TextKind::Query,
        )
        .await
        .unwrap();
    let hits = stores
        .vectors
        .search(
            q.vectors[0].clone(),
            3,
            &public,
            &SearchFilter::default(),
            false,
        )
        .await
        .unwrap();
    assert!(
        hits[0].chunk.text.contains("600 yuan"),
        "{:?}",
        hits[0].chunk
    );
    assert_eq!(
        hits[0].chunk.section_path,
        "差旅政策 Travel policy > Hotels"
    );

    // Nothing changed: nothing is rewritten.
    let s = run(&env, &spec(&root, &["public"], true)).await;
    assert_eq!(
        (s.indexed, s.unchanged, s.failed.len()),
        (0, 9, 1),
        "the broken file is tried again: {s:?}"
    );
    assert_consistent(&env).await;

    // Edit one file, rename another, delete a third.
    std::fs::write(root.join("policies/travel.md"), "# 差旅政策 Travel policy\n\n## Hotels\n\nHotel stays are now reimbursed up to 800 yuan per night.\n").unwrap();
    std::fs::rename(
        root.join("hr/onboarding.html"),
        root.join("hr/first-day.html"),
    )
    .unwrap();
    std::fs::remove_file(root.join("finance/rates.csv")).unwrap();
    let s = run(&env, &spec(&root, &["public"], true)).await;
    assert_eq!((s.indexed, s.deleted), (2, 2), "{s:?}");
    assert_consistent(&env).await;
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search(
            "hotel yuan night",
            10,
            &public,
            &SearchFilter {
                path_prefix: Some(root.join("policies").display().to_string()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(hits.len(), 1, "the old version is gone: {hits:?}");
    assert!(hits[0].chunk.text.contains("800"));
    assert_eq!(hits[0].chunk.version, 2);
    let hits = stores
        .lexical
        .tantivy()
        .unwrap()
        .search(
            "USD EUR rate currency",
            50,
            &public,
            &SearchFilter::default(),
        )
        .unwrap();
    assert!(
        hits.iter().all(|h| !h.chunk.path.ends_with("rates.csv")),
        "the deleted file is gone"
    );
    let docs = stores
        .registry
        .list_documents(Some("handbook"), 100, 0)
        .await
        .unwrap();
    assert!(
        docs.iter()
            .any(|d| d.source_path.ends_with("first-day.html"))
    );
    assert!(!docs.iter().any(
        |d| d.source_path.ends_with("onboarding.html") || d.source_path.ends_with("rates.csv")
    ));
    env.db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_groups_are_enforced_inside_both_stores() {
    let env = env(8 << 20).await;
    let src = tempfile::tempdir().unwrap();
    let hr = src.path().join("hr");
    let eng = src.path().join("eng");
    std::fs::create_dir_all(&hr).unwrap();
    std::fs::create_dir_all(&eng).unwrap();
    std::fs::write(
        hr.join("salaries.md"),
        "# Salary bands\n\nThe salary band for senior engineers is confidential. 薪资等级保密。\n",
    )
    .unwrap();
    std::fs::write(eng.join("oncall.md"), "# On-call\n\nThe on-call engineer answers pages within fifteen minutes. Salary questions go to HR.\n").unwrap();
    run(&env, &spec(&hr, &["hr"], false)).await;
    run(&env, &spec(&eng, &["eng"], false)).await;
    let stores = &env.pipeline.stores;
    let q = env
        .pipeline
        .encoder
        .embed(vec!["salary band engineers".into()], TextKind::Query)
        .await
        .unwrap()
        .vectors
        .remove(0);
    for (groups, visible, hidden) in [
        (["eng"], "oncall.md", "salaries.md"),
        (["hr"], "salaries.md", "oncall.md"),
    ] {
        let scope = Scope::of_groups(groups);
        let lexical = stores
            .lexical
            .tantivy()
            .unwrap()
            .search(
                "salary engineers 薪资",
                50,
                &scope,
                &SearchFilter::default(),
            )
            .unwrap();
        let dense = stores
            .vectors
            .search(q.clone(), 50, &scope, &SearchFilter::default(), true)
            .await
            .unwrap();
        assert!(!lexical.is_empty() && !dense.is_empty());
        for path in lexical
            .iter()
            .map(|h| &h.chunk.path)
            .chain(dense.iter().map(|h| &h.chunk.path))
        {
            assert!(
                path.ends_with(visible) && !path.ends_with(hidden),
                "{groups:?} saw {path}"
            );
        }
        // A filter naming the other group's document cannot reach it.
        let other = stores
            .registry
            .list_documents(Some("handbook"), 10, 0)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.source_path.ends_with(hidden))
            .unwrap();
        let f = SearchFilter {
            document_ids: vec![other.id.clone()],
            ..Default::default()
        };
        assert!(
            stores
                .lexical
                .tantivy()
                .unwrap()
                .search("salary", 50, &scope, &f)
                .unwrap()
                .is_empty()
        );
        assert!(
            stores
                .vectors
                .search(q.clone(), 50, &scope, &f, false)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(stores.vectors.count(&scope, &f).await.unwrap(), 0);
        assert_eq!(
            stores.lexical.tantivy().unwrap().count(&scope, &f).unwrap(),
            0
        );
    }
    let nobody = Scope::of_groups(Vec::<String>::new());
    assert!(
        stores
            .lexical
            .tantivy()
            .unwrap()
            .search("salary", 50, &nobody, &SearchFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .vectors
            .search(q.clone(), 50, &nobody, &SearchFilter::default(), false)
            .await
            .unwrap()
            .is_empty()
    );

    // Regression: re-ingesting unchanged files with other access groups
    // takes the old group's access away in both stores (the registry alone
    // used to be updated, and the chunks kept the old groups).
    let summary = run(&env, &spec(&hr, &["hr-leads"], false)).await;
    assert_eq!((summary.indexed, summary.unchanged), (1, 0), "{summary:?}");
    for (groups, sees) in [(["hr"], false), (["hr-leads"], true)] {
        let scope = Scope::of_groups(groups);
        let lexical = stores
            .lexical
            .tantivy()
            .unwrap()
            .search("salary 薪资", 50, &scope, &SearchFilter::default())
            .unwrap();
        let dense = stores
            .vectors
            .search(q.clone(), 50, &scope, &SearchFilter::default(), false)
            .await
            .unwrap();
        for found in [
            lexical
                .iter()
                .any(|h| h.chunk.path.ends_with("salaries.md")),
            dense.iter().any(|h| h.chunk.path.ends_with("salaries.md")),
        ] {
            assert_eq!(found, sees, "{groups:?}");
        }
    }
    // The same groups again, in another order: nothing to redo.
    let summary = run(&env, &spec(&hr, &["hr-leads", "hr-leads"], false)).await;
    assert_eq!((summary.indexed, summary.unchanged), (0, 1), "{summary:?}");
    env.db.cleanup().await;
}

/// A 500-row staff directory with a formula column, dates, a merged
/// title row and a hidden sheet of salaries.
fn write_directory(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("分机表").unwrap();
    sheet
        .merge_range(0, 0, 0, 4, "Staff directory 员工通讯录", &Format::new())
        .unwrap();
    for (c, h) in ["工号", "Name", "部门", "Extension", "Joined"]
        .iter()
        .enumerate()
    {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for i in 0..500u32 {
        let r = i + 2;
        sheet.write_string(r, 0, format!("E{:04}", i + 1)).unwrap();
        sheet
            .write_string(r, 1, format!("Person {}", i + 1))
            .unwrap();
        sheet
            .write_string(
                r,
                2,
                ["财务部", "Engineering", "法务部", "Sales"][i as usize % 4],
            )
            .unwrap();
        // The extension is a formula; its cached value is what a reader sees.
        let ext = 6000 + i * 7 % 1000;
        sheet
            .write_formula(
                r,
                3,
                Formula::new(format!("={ext}+0")).set_result(ext.to_string()),
            )
            .unwrap();
        let d = ExcelDateTime::from_ymd(
            2020 + (i % 5) as u16,
            1 + (i % 12) as u8,
            1 + (i % 28) as u8,
        )
        .unwrap();
        sheet.write_datetime_with_format(r, 4, &d, &date).unwrap();
    }
    let hidden = book.add_worksheet();
    hidden.set_name("Salaries").unwrap();
    hidden.write_string(0, 0, "Name").unwrap();
    hidden.write_string(0, 1, "Salary").unwrap();
    hidden.write_string(1, 0, "Person 1").unwrap();
    hidden.write_number(1, 1, 98765.0).unwrap();
    hidden.set_hidden(true);
    book.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_pdfs_scans_and_big_tables_are_searchable() {
    let env = env(20 << 20).await;
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("archive");
    std::fs::create_dir_all(&root).unwrap();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    for f in [
        "pdf/policy-zh.pdf",
        "pdf/mixed-scan.pdf",
        "pdf/tables-zh.pdf",
        "ocr/scan-zh.tiff",
    ] {
        let from = fixtures.join(f);
        std::fs::copy(&from, root.join(from.file_name().unwrap())).unwrap();
    }
    write_directory(&root.join("directory.xlsx"));
    let progress = Arc::new(Progress::default());
    let s = env
        .pipeline
        .run(&spec(&root, &["public"], true), progress.clone(), None)
        .await
        .unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.indexed, 5, "{s:?}");
    // One scanned PDF page and two TIFF pages went through OCR.
    assert_eq!(
        progress
            .ocr_pages
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let lexical = env.pipeline.stores.lexical.tantivy().unwrap();
    let public = Scope::of_groups(["public"]);
    let any = SearchFilter::default();

    // A sentence of the XeLaTeX PDF, with its page and section.
    let hits = lexical
        .search("出差结束后三十日内提交报销申请", 3, &public, &any)
        .unwrap();
    let top = &hits[0].chunk;
    assert!(top.path.ends_with("policy-zh.pdf"), "{hits:?}");
    assert_eq!(top.page, Some(2));
    assert_eq!(top.section_path, "差旅费用报销管理办法 > 4 报销时限");
    assert!(
        top.text.contains("逾期未提交的，财务部有权不予受理"),
        "{}",
        top.text
    );

    // A row of a table typeset in a PDF (a longtable over two pages),
    // found by a name in it: the row comes with its header row, on its
    // page.
    let hits = lexical.search("徐军明 年度预算", 3, &public, &any).unwrap();
    let row = &hits[0].chunk;
    assert!(row.path.ends_with("tables-zh.pdf"), "{hits:?}");
    assert_eq!(row.page, Some(3));
    assert!(
        row.text
            .starts_with("| 工号 | 姓名 | 部门 | 年度预算（元） |\n| --- |"),
        "{}",
        row.text
    );
    assert!(
        row.text.contains("| E1047 | 徐军明 | 市场部 | 9000 |"),
        "{}",
        row.text
    );
    // A cell of a small table: its row and its header.
    let hits = lexical.search("成都 住宿上限", 3, &public, &any).unwrap();
    let row = &hits[0].chunk;
    assert!(row.path.ends_with("tables-zh.pdf"), "{hits:?}");
    assert!(
        row.text
            .contains("| 城市 | 城市级别 | 住宿上限（元/晚） | 餐补（元/天） |")
            && row.text.contains("| 成都 | 省会城市 | 450 | 100 |"),
        "{}",
        row.text
    );

    // Row 347 of 500, far past the first chunk: its cells come with the
    // header row, the extension as the formula's value, the date as a date.
    let hits = lexical.search("E0347 Extension", 3, &public, &any).unwrap();
    let row = &hits[0].chunk;
    assert!(row.path.ends_with("directory.xlsx"), "{hits:?}");
    assert!(row.section_path.contains("分机表"), "{}", row.section_path);
    assert!(
        row.text
            .starts_with("| 工号 | Name | 部门 | Extension | Joined |\n| --- |"),
        "{}",
        row.text
    );
    let ext = 6000 + 346 * 7 % 1000;
    assert!(
        row.text.contains(&format!(
            "| E0347 | Person 347 | 法务部 | {ext} | 2021-11-11 |"
        )),
        "{}",
        row.text
    );
    assert!(!row.text.contains("=6"), "a formula is never indexed");
    let chunks = lexical.search("Person", 100, &public, &any).unwrap();
    let table_chunks = chunks
        .iter()
        .filter(|h| h.chunk.path.ends_with("directory.xlsx"))
        .count();
    assert!(
        table_chunks > 3,
        "500 rows span several chunks: {table_chunks}"
    );
    // The hidden sheet is not indexed by default.
    assert!(
        lexical
            .search("98765", 3, &public, &any)
            .unwrap()
            .is_empty()
    );
    // Words only the TIFF's second scanned page holds are found, with it.
    let truth = std::fs::read_to_string(fixtures.join("ocr/truth.jsonl")).unwrap();
    let tiff: serde_json::Value = truth
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|t| t["file"] == "scan-zh.tiff")
        .unwrap();
    let second = tiff["text"].as_str().unwrap().split('\n').nth(1).unwrap();
    let query: String = second.chars().take(24).collect();
    let hits = lexical.search(&query, 3, &public, &any).unwrap();
    assert!(
        hits[0].chunk.path.ends_with("scan-zh.tiff"),
        "{query}: {hits:?}"
    );
    assert_eq!(hits[0].chunk.page, Some(2));
    assert_consistent(&env).await;
}
