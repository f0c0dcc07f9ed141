//! `POST /v1/embeddings` on a started server with the offline
//! all-MiniLM-L6-v2, OpenAI's request and response shapes.

mod common;

use common::{Server, bearer, request};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn embeddings_are_openai_compatible() {
    let server = Server::start();
    let ready = server.wait_ready(200);
    assert!(
        ready["checks"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("all-MiniLM-L6-v2 loaded"),
        "{ready}"
    );
    let key = bearer(&server.user_with_key("bot", &["employee"], &[]));
    let url = server.url("/v1/embeddings");
    let post = |body: &str| {
        let (status, _, text) = request("POST", &url, &[("authorization", &key)], Some(body));
        (status, text)
    };

    let (status, text) = post(
        r#"{"input": "How many days of annual leave do I get?", "model": "all-MiniLM-L6-v2"}"#,
    );
    assert_eq!(status, 200, "{text}");
    let one = json(&text);
    assert_eq!(
        (one["object"].as_str(), one["model"].as_str()),
        (Some("list"), Some("all-MiniLM-L6-v2"))
    );
    let v: Vec<f64> = one["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(v.len(), 384);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert!(one["usage"]["prompt_tokens"].as_u64().unwrap() > 5);

    let (status, text) =
        post(r#"{"input": ["annual leave days", "年假有几天", "the cafeteria menu"]}"#);
    assert_eq!(status, 200, "{text}");
    let many = json(&text);
    let vecs: Vec<Vec<f64>> = many["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(many["data"][2]["index"], 2);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert!(
        dot(&v, &vecs[0]) > dot(&v, &vecs[2]),
        "a paraphrase is closer than an unrelated text"
    );

    let (status, text) = post(r#"{"input": "annual leave days", "encoding_format": "base64"}"#);
    assert_eq!(status, 200, "{text}");
    let b64 = json(&text)["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let floats: Vec<f64> = bytes
        .chunks(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    assert_eq!(floats.len(), 384);
    assert!(
        floats
            .iter()
            .zip(&vecs[0])
            .all(|(a, b)| (a - b).abs() < 1e-6),
        "base64 carries the same floats"
    );

    for (body, status, code) in [
        (r#"{"input": []}"#, 400, "invalid_input"),
        (
            r#"{"input": "x", "model": "text-embedding-3-large"}"#,
            404,
            "not_found",
        ),
        (
            r#"{"input": "x", "encoding_format": "int8"}"#,
            400,
            "invalid_encoding_format",
        ),
        (r#"{"input": [1, 2, 3]}"#, 400, "invalid_json"),
        (r#"{"inputs": "x"}"#, 400, "invalid_json"),
    ] {
        let (got, text) = post(body);
        assert_eq!(got, status, "{body}: {text}");
        assert_eq!(json(&text)["error"]["code"], code, "{body}");
    }
    let (_, _, text) = common::get_text(&server.url("/metrics"), &[]);
    assert!(
        text.contains(r#"zhishu_encoder_total{count="texts",model="all-MiniLM-L6-v2"} 5"#),
        "{text}"
    );
    let many_inputs = format!(r#"{{"input": [{}]}}"#, vec!["\"x\""; 2049].join(","));
    let (got, text) = post(&many_inputs);
    assert_eq!(
        (got, json(&text)["error"]["code"].as_str()),
        (400, Some("too_many_inputs"))
    );
}
