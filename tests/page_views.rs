//! Page views of scanned images over HTTP: each page of a fax TIFF and a
//! PNG scan rendered with the cited lines marked, access groups enforced,
//! and what cannot be shown refused with why. (PDF page views are tested
//! in tests/knowledge.rs with downloads.)

mod common;

use common::{Server, call, get_bytes, ingest};

/// A scanned archive's images show their pages too: each page of a
/// two-page fax TIFF and a PNG scan, the cited lines marked, at the width
/// asked for; a page the file lacks and a text file are refused with why.
#[test]
fn scanned_images_show_each_page_with_the_passage_marked() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("scans")).unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for f in ["ocr/scan-zh.tiff", "ocr/scan-zh.png"] {
        let from = fixtures.join(f);
        std::fs::copy(&from, docs.join("scans").join(from.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        docs.join("scans/readme.md"),
        "# 扫描件\n\n以下为传真原件。\n",
    )
    .unwrap();
    let server = Server::start_over(dir, &docs, &[]);
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["scans"]);
    let bob = server.user_with_key("bob", &["employee"], &["eng"]);
    let job = ingest(
        &server,
        &admin,
        &docs.join("scans").display().to_string(),
        &["scans"],
    );
    assert_eq!(job["files_done"], 3, "{job}");
    let (_, list) = call(&server, "GET", "/v1/documents", &alice, None);
    let id_of = |name: &str| {
        list["documents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["source_path"].as_str().unwrap_or("").ends_with(name))
            .and_then(|d| d["id"].as_str())
            .unwrap_or_else(|| panic!("{name} in {list}"))
            .to_owned()
    };
    let tiff = id_of("scan-zh.tiff");
    let (_, doc) = call(
        &server,
        "GET",
        &format!("/v1/documents/{tiff}"),
        &alice,
        None,
    );
    let second = doc["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["page"] == 2 && !c["boxes"].as_array().unwrap().is_empty())
        .unwrap_or_else(|| panic!("a chunk with boxes on page 2: {doc}"));
    let chunk = second["id"].as_str().unwrap();
    let png_size = |bytes: &[u8]| {
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        )
    };
    let marked_view = format!("/v1/documents/{tiff}/pages/2?chunk={chunk}&width=600");
    let (status, _, marked) = get_bytes(&server, &marked_view, &alice);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&marked));
    // Page 2 of the TIFF is 1333×424.
    assert_eq!(png_size(&marked), (600, 424 * 600 / 1333));
    let (status, _, plain) = get_bytes(
        &server,
        &format!("/v1/documents/{tiff}/pages/2?width=600"),
        &alice,
    );
    assert_eq!(status, 200);
    assert_ne!(plain, marked, "the mark changes the image");
    let (status, _, first) = get_bytes(
        &server,
        &format!("/v1/documents/{tiff}/pages/1?width=600"),
        &alice,
    );
    assert_eq!(status, 200);
    assert_ne!(first, plain, "page 1 is another page");
    // Outside the document's groups it does not exist.
    let (status, _, _) = get_bytes(&server, &marked_view, &bob);
    assert_eq!(status, 404);
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{tiff}/pages/3"), &alice);
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("has 2 pages, not a page 3"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let png = id_of("scan-zh.png");
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{png}/pages/1"), &alice);
    assert_eq!(status, 200);
    assert_eq!(png_size(&body), (1000, 636 / 2), "default width 1000");
    let md = id_of("readme.md");
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{md}/pages/1"), &alice);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("not_paged"));
}
