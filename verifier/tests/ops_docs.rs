//! The operator documents against the real server: `verifier/openapi.yaml` (every documented
//! route and status is requested and answered with the documented content type, headers and
//! body shape; nothing answered here is undocumented), and the metric names and label values
//! of `deploy/prometheus-alerts.yaml` and `deploy/grafana-dashboard.json` exist in a real
//! `/metrics` answer.
//!
//! The YAML files are read with PyYAML (`python3 -c 'import yaml'`; Debian: python3-yaml).

mod common;
mod google_support;
mod webhook_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{request, TestServer, APP};
use payseal_protocol::{Environment, Receipt, Store};
use payseal_sandbox::AppStoreNotification;
use payseal_verifier::notifications::app_store::ROUTE as NOTIFICATIONS;
use payseal_verifier::server::REQUEST_CONTENT_TYPE;
use serde_json::Value;

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A YAML file as JSON, read by PyYAML (a missing python3 or PyYAML fails with how to install).
fn yaml(rel: &str) -> Value {
    let path = repo_file(rel);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to read {rel} (apt-get install python3 python3-yaml): {e}")
        });
    assert!(
        out.status.success(),
        "python3 could not read {rel} (apt-get install python3-yaml): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Follow a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("only local $refs");
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => v,
    }
}

/// Check `value` against the JSON Schema subset the document uses (type, const, required,
/// properties, items).
fn check_schema(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(c) = schema.get("const") {
        if c != value {
            return Err(format!("{at}: {value} is not the documented {c}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!(
                "{at}: {value} is not one of the documented {allowed:?}"
            ));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let ok = match ty {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some(other) => {
            return Err(format!(
                "{at}: schema type {other} not handled by this check"
            ))
        }
    };
    if !ok {
        return Err(format!("{at}: {value} is not of type {ty:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap();
        if value.get(key).is_none() {
            return Err(format!("{at}: required {key:?} missing in {value}"));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            if let Some(v) = value.get(k) {
                check_schema(doc, s, v, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            check_schema(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The store notification routes served only when configured (exercised by
/// `store_notification_routes_match_the_document`).
const CONFIGURED_ROUTES: [&str; 2] = [
    "/v1/stores/google-play/rtdn",
    "/v1/stores/huawei/notifications",
];

/// One answer of the real server.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Answer {
        status,
        content_type,
        headers,
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// Check `a` against the document's response for (path, method, status).
fn check_answer(doc: &Value, path: &str, method: &str, status: &str, a: &Answer) {
    let at = format!("{method} {path} {status}");
    assert_eq!(
        a.status.to_string(),
        status,
        "{at}: the server answered {}",
        a.status
    );
    let response = resolve(doc, &doc["paths"][path][method]["responses"][status]);
    let content = response["content"].as_object().expect("documented content");
    let media = a.content_type.split(';').next().unwrap().trim();
    let (_, media_doc) = content
        .iter()
        .find(|(m, _)| m.as_str() == media)
        .unwrap_or_else(|| panic!("{at}: content type {media:?} is not documented ({content:?})"));
    for (name, h) in response["headers"].as_object().into_iter().flatten() {
        let h = resolve(doc, h);
        let value = a.headers.get(name.as_str());
        let required = h["required"].as_bool().unwrap_or(false) || name == "Cache-Control";
        if required {
            let value = value.unwrap_or_else(|| panic!("{at}: header {name} missing"));
            let text = value.to_str().unwrap();
            let json = match h["schema"]["type"].as_str() {
                Some("integer") => Value::from(
                    text.parse::<i64>()
                        .unwrap_or_else(|_| panic!("{at}: {name} {text:?}")),
                ),
                _ => Value::from(text),
            };
            check_schema(doc, &h["schema"], &json, &format!("{at} header {name}")).unwrap();
        }
    }
    let schema = &media_doc["schema"];
    let body = if media.ends_with("json") {
        serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("{at}: body is not JSON: {e}"))
    } else {
        match String::from_utf8(a.body.clone()) {
            Ok(s) => Value::from(s),
            // Binary bodies (sealed envelopes) are documented as strings.
            Err(_) => Value::from("binary"),
        }
    };
    check_schema(doc, schema, &body, &at).unwrap_or_else(|e| panic!("{e}"));
}

/// A Play receipt whose JSON was edited after signing (bad_signature).
fn forged(receipt: &Receipt) -> Receipt {
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => Receipt::GooglePlay {
            purchase_data: purchase_data.replace("coins_100", "coins_999"),
            signature: signature.clone(),
        },
        other => panic!("{other:?}"),
    }
}

/// Metric sample names and, per name, the label names and `name="value"` pairs seen.
fn parse_metrics(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let entry = seen.entry(line[..name_end].to_string()).or_default();
        if let Some(labels) = line[name_end..]
            .strip_prefix('{')
            .and_then(|l| l.split('}').next())
        {
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap();
                entry.insert(k.to_string());
                entry.insert(format!("{k}={v}"));
            }
        }
    }
    seen
}

/// A label matcher of a PromQL selector: (label, operator, quoted value).
type Matcher = (String, String, String);

/// The PromQL selectors in `expr`: (metric name, label matchers).
fn selectors(expr: &str) -> Vec<(String, Vec<Matcher>)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("payseal_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut matchers = Vec::new();
        let after = &tail[end..];
        if let Some(body) = after.strip_prefix('{').and_then(|b| b.split('}').next()) {
            for m in body.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let op_at = m.find(['=', '!']).unwrap();
                let (k, rest_m) = m.split_at(op_at);
                let op_len = if rest_m.starts_with("=~")
                    || rest_m.starts_with("!=")
                    || rest_m.starts_with("!~")
                {
                    2
                } else {
                    1
                };
                let (op, v) = rest_m.split_at(op_len);
                matchers.push((k.trim().to_string(), op.to_string(), v.trim().to_string()));
            }
        }
        out.push((name, matchers));
        rest = &tail[end..];
    }
    out
}

fn check_exprs(source: &str, exprs: &[String], metrics: &BTreeMap<String, BTreeSet<String>>) {
    assert!(!exprs.is_empty(), "{source}: no expressions found");
    let mut checked = 0;
    for expr in exprs {
        for (name, matchers) in selectors(expr) {
            let labels = metrics.get(&name).unwrap_or_else(|| {
                panic!(
                    "{source}: {name} is not in /metrics (names: {:?})",
                    metrics.keys()
                )
            });
            for (k, op, v) in matchers {
                assert!(
                    labels.contains(&k),
                    "{source}: {name} has no label {k} ({labels:?})"
                );
                if op == "=" {
                    assert!(
                        labels.contains(&format!("{k}={v}")),
                        "{source}: no {name}{{{k}={v}}} sample in /metrics ({labels:?})"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "{source}: no payseal_ metric referenced");
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_routes_and_statuses_and_dashboard_metrics_match_the_real_server() {
    let doc = yaml("verifier/openapi.yaml");
    assert_eq!(doc["openapi"], "3.1.0");
    // A small body limit, so the oversized body is sent whole before the 413.
    let server = TestServer::start_with(|s| s.limits.max_body_bytes = 4096).await;
    let client = &server.client;
    let receipt = server.state.issue(Store::GooglePlay);

    // Every (path, method, status) the document lists, and how to get it from the real server.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if CONFIGURED_ROUTES.contains(&path.as_str()) {
            continue; // served only when configured: store_notification_routes_match_the_document
        }
        // Operations only: a path item may also carry `servers` (`/metrics`: the private
        // listener), `summary` and the like.
        let operations = item.as_object().unwrap().iter().filter(|(m, _)| {
            [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&m.as_str())
        });
        for (method, op) in operations {
            for status in op["responses"].as_object().unwrap().keys() {
                documented.insert((path.clone(), method.clone(), status.clone()));
            }
        }
    }
    let mut exercised = BTreeSet::new();
    let mut check = |path: &str, method: &str, status: &str, a: &Answer| {
        check_answer(&doc, path, method, status, a);
        exercised.insert((path.to_string(), method.to_string(), status.to_string()));
    };
    let post = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(server.url("/v1/verify"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };

    let (sealed, _) = server.seal(&request(APP, "alice", &receipt));
    check(
        "/v1/verify",
        "post",
        "200",
        &answer(post(sealed, REQUEST_CONTENT_TYPE).await.unwrap()).await,
    );
    let (sealed, _) = server.seal(&request(APP, "mallory", &forged(&receipt)));
    check(
        "/v1/verify",
        "post",
        "200",
        &answer(post(sealed, REQUEST_CONTENT_TYPE).await.unwrap()).await,
    );
    let a = answer(
        post(
            b"{\"receipt\":\"plaintext\"}".to_vec(),
            REQUEST_CONTENT_TYPE,
        )
        .await
        .unwrap(),
    )
    .await;
    check("/v1/verify", "post", "400", &a);
    let a = answer(post(vec![0u8; 5000], REQUEST_CONTENT_TYPE).await.unwrap()).await;
    check("/v1/verify", "post", "413", &a);
    let a = answer(post(b"x".to_vec(), "text/plain").await.unwrap()).await;
    check("/v1/verify", "post", "415", &a);
    // App Store Server Notifications V2, signed by the configured sandbox store.
    let notify = |body: String| {
        client
            .post(server.url(NOTIFICATIONS))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    let signed = |n: &AppStoreNotification| {
        server
            .state
            .store
            .app_store_notification(n, payseal_sandbox::now_ms())
            .unwrap()
    };
    let test = signed(&AppStoreNotification::test(APP, Environment::Sandbox));
    let a = answer(notify(test.clone()).await.unwrap()).await;
    check(NOTIFICATIONS, "post", "200", &a);
    let a = answer(notify("x".into()).await.unwrap()).await;
    check(NOTIFICATIONS, "post", "400", &a);
    let jws = serde_json::from_str::<serde_json::Value>(&test).unwrap()["signedPayload"]
        .as_str()
        .unwrap()
        .to_string();
    let (signing_input, _) = jws.rsplit_once('.').unwrap();
    let resigned = format!("{signing_input}.{}", "A".repeat(86));
    let a = answer(
        notify(payseal_sandbox::SandboxStore::app_store_notification_body(
            &resigned,
        ))
        .await
        .unwrap(),
    )
    .await;
    check(NOTIFICATIONS, "post", "403", &a);
    let a = answer(notify("x".repeat(300 * 1024)).await.unwrap()).await;
    check(NOTIFICATIONS, "post", "413", &a);
    let other = signed(&AppStoreNotification::test(
        "com.example.unknown",
        Environment::Sandbox,
    ));
    let a = answer(notify(other).await.unwrap()).await;
    check(NOTIFICATIONS, "post", "422", &a);

    for (path, status) in [("/v1/keys", "200"), ("/healthz", "200"), ("/readyz", "200")] {
        let a = answer(client.get(server.url(path)).send().await.unwrap()).await;
        check(path, "get", status, &a);
    }

    // The ledger unavailable: another writer holds the SQLite write lock (verify: 503), then
    // the redemptions table is gone (readyz: 503).
    {
        let blocker = rusqlite::Connection::open(&server.state.paths.ledger).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (sealed, _) = server.seal(&request(
            APP,
            "carol",
            &server.state.issue(Store::GooglePlay),
        ));
        let a = answer(post(sealed, REQUEST_CONTENT_TYPE).await.unwrap()).await;
        check("/v1/verify", "post", "503", &a);
        let a = answer(
            notify(signed(&AppStoreNotification::test(
                APP,
                Environment::Sandbox,
            )))
            .await
            .unwrap(),
        )
        .await;
        check(NOTIFICATIONS, "post", "503", &a);
        blocker.execute_batch("ROLLBACK").unwrap();
        blocker
            .execute_batch("ALTER TABLE payseal_redemptions RENAME TO redemptions_away")
            .unwrap();
        let a = answer(client.get(server.url("/readyz")).send().await.unwrap()).await;
        check("/readyz", "get", "503", &a);
        blocker
            .execute_batch("ALTER TABLE redemptions_away RENAME TO payseal_redemptions")
            .unwrap();
    }
    // /metrics: on the private listener the document names, a 404 on the public one.
    assert_eq!(
        doc["paths"]["/metrics"]["servers"][0]["url"],
        "http://127.0.0.1:9464"
    );
    let metrics = answer(client.get(server.metrics_url()).send().await.unwrap()).await;
    check("/metrics", "get", "200", &metrics);
    let public = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(
        public.status(),
        404,
        "/metrics answered on the public listener"
    );

    let missing: Vec<_> = documented.difference(&exercised).collect();
    assert!(
        missing.is_empty(),
        "documented but not exercised by this test: {missing:?}"
    );
    // An undocumented route answers a problem 404 (not part of the surface).
    let a = answer(client.get(server.url("/v1/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (404, "application/problem+json")
    );
    assert!(doc["paths"].get("/v1/nothing").is_none());

    // Dashboards and alerts name metrics and label values the server really exports.
    let metrics = parse_metrics(&String::from_utf8(metrics.body).unwrap());
    assert!(
        metrics.contains_key("payseal_requests_total"),
        "{metrics:?}"
    );
    let mut alert_exprs = Vec::new();
    collect_exprs(&yaml("deploy/prometheus-alerts.yaml"), &mut alert_exprs);
    check_exprs("deploy/prometheus-alerts.yaml", &alert_exprs, &metrics);
    for wanted in ["bad_signature", "5..", "ledger", "webhook_outbox_pending"] {
        assert!(
            alert_exprs.iter().any(|e| e.contains(wanted)),
            "no alert on {wanted}"
        );
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut panel_exprs = Vec::new();
    collect_exprs(&dashboard, &mut panel_exprs);
    check_exprs("deploy/grafana-dashboard.json", &panel_exprs, &metrics);

    // The check can fail: an unknown metric or label value is refused.
    let bad = std::panic::catch_unwind(|| {
        check_exprs(
            "probe",
            &["rate(payseal_requests_total{reason=\"no_such\"}[5m])".into()],
            &metrics,
        )
    });
    assert!(bad.is_err());
    let bad = std::panic::catch_unwind(|| {
        check_exprs("probe", &["payseal_no_such_metric".into()], &metrics)
    });
    assert!(bad.is_err());
}

/// The store notification routes, configured (a local "Google" JWKS; a Huawei app whose Order
/// service is unreachable): every documented status is answered as documented, and every
/// documented `/v1/stores/` route is exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_notification_routes_match_the_document() {
    use base64::Engine as _;
    use google_support::{push_claims, FakeGoogle, AUDIENCE, PUSH_ACCOUNT};
    let doc = yaml("verifier/openapi.yaml");
    let google = FakeGoogle::start().await;
    let state = common::StateDir::new();
    let dir = state.paths.config.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("huawei-secret.txt"), "secret\n").unwrap();
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[google_play.rtdn]\naudience = \"{AUDIENCE}\"\nservice_account = \"{PUSH_ACCOUNT}\"\n\
         jwks_url = \"{}\"\n\n[apps.\"{APP}\".huawei.notifications]\nclient_id = \"107\"\n\
         client_secret_file = \"huawei-secret.txt\"\norder_service_url = \"{closed}\"\n\
         token_uri = \"{closed}/token\"\nrequest_timeout_ms = 2000\n",
        google.url("/oauth2/v3/certs")
    ));
    std::fs::write(&state.paths.config, text).unwrap();
    let server = TestServer::start_on(state, |_| {}).await;
    let receipt = server.state.issue(Store::GooglePlay);
    server.verify("alice", &receipt).await;

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if CONFIGURED_ROUTES.contains(&path.as_str()) {
            for status in item["post"]["responses"].as_object().unwrap().keys() {
                documented.insert((path.clone(), status.clone()));
            }
        }
    }
    let mut exercised = BTreeSet::new();
    let rtdn = "/v1/stores/google-play/rtdn";
    let huawei = "/v1/stores/huawei/notifications";
    let push = |n: Value| {
        serde_json::json!({"message": {"data": base64::engine::general_purpose::STANDARD
            .encode(n.to_string()), "messageId": "1"}, "subscription": "projects/p/subscriptions/s"})
        .to_string()
    };
    let test_push = push(serde_json::json!({"version": "1.0", "packageName": APP,
        "eventTimeMillis": "1", "testNotification": {"version": "1.0"}}));
    let order_id = common::play_order_id(&receipt);
    let void_push = push(serde_json::json!({"version": "1.0", "packageName": APP,
        "eventTimeMillis": "1", "voidedPurchaseNotification": {"purchaseToken": "t",
            "orderId": order_id, "productType": 2, "refundType": 1}}));
    let good = google.push_token("k1", &push_claims());
    let mut other_aud = push_claims();
    other_aud["aud"] = Value::from("https://elsewhere.test");
    let other_aud = google.push_token("k1", &other_aud);
    let send = |path: &'static str, token: Option<String>, body: String| {
        let mut r = server.client.post(server.url(path)).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let mut cases: Vec<(&str, &str, Option<String>, String)> = vec![
        (rtdn, "200", Some(good.clone()), test_push.clone()),
        (rtdn, "400", Some(good.clone()), "{}".into()),
        (rtdn, "401", None, test_push.clone()),
        (rtdn, "403", Some(other_aud), test_push),
    ];
    let huawei_body = |kind: i64| {
        serde_json::json!({"version": "v2", "eventType": "ORDER", "applicationId": "107",
            "orderNotification": {"version": "v2", "notificationType": kind,
                "purchaseToken": "t", "productId": "coins_100"}})
        .to_string()
    };
    cases.push((huawei, "200", None, huawei_body(1)));
    cases.push((huawei, "400", None, "[]".into()));
    cases.push((huawei, "503", None, huawei_body(2)));
    for (path, status, token, body) in cases {
        let a = answer(send(path, token, body).await.unwrap()).await;
        check_answer(&doc, path, "post", status, &a);
        exercised.insert((path.to_string(), status.to_string()));
    }
    // The ledger cannot record a revocation: another writer holds the SQLite write lock.
    {
        let blocker = rusqlite::Connection::open(&server.state.paths.ledger).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let a = answer(send(rtdn, Some(good), void_push).await.unwrap()).await;
        check_answer(&doc, rtdn, "post", "503", &a);
        exercised.insert((rtdn.to_string(), "503".to_string()));
        blocker.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(documented, exercised);
}
