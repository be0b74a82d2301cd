//! App Store rule: the genuine case and every forgery of the threat model.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use payseal_protocol::{Environment, Reason, Receipt, Store};
use payseal_sandbox::{app_store_header_json, CertSpec, IssuedCert, PurchaseState, SandboxStore};

use crate::test_support::*;
use crate::{check_receipt, AppRules, Purchase, Rejection, TrustAnchors};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    payseal_sandbox::now_ms()
}

fn check(receipt: &Receipt, app: &AppRules, anchors: &TrustAnchors) -> Result<Purchase, Rejection> {
    check_receipt(receipt, app, anchors, now())
}

fn jws(jws: String) -> Receipt {
    Receipt::AppStore { jws }
}

fn payload(store: &SandboxStore, at_ms: i64) -> String {
    store
        .app_store_payload(&order(Store::AppStore), at_ms)
        .unwrap()
}

fn parts_of(jws: &str) -> Vec<String> {
    jws.split('.').map(str::to_owned).collect()
}

fn header_with(certs: &[&[u8]]) -> String {
    app_store_header_json(certs)
}

/// A JWS signed by `leaf` with `x5c` = `chain`.
fn signed_by(leaf: &IssuedCert, chain: &[&[u8]], payload: &str) -> Receipt {
    jws(leaf.sign_jws(&header_with(chain), payload).unwrap())
}

#[test]
fn genuine_transaction_is_paid() {
    let mut o = order(Store::AppStore);
    o.transaction_id = Some("2000000123456789".into());
    o.quantity = 2;
    let at = now() - 1000;
    let r = genuine().issue_at(&o, at).unwrap();
    let p = check(&r, &app(), &anchors()).unwrap();
    assert_eq!(p.store, Store::AppStore);
    assert_eq!(p.environment, Environment::Sandbox);
    assert_eq!(p.transaction_key, "2000000123456789");
    assert_eq!(p.transaction_id, "2000000123456789");
    assert_eq!(
        p.original_transaction_id.as_deref(),
        Some("2000000123456789")
    );
    assert_eq!(p.product_id, "gems_100");
    assert_eq!(p.quantity, 2);
    assert_eq!(p.purchased_at, at);
}

#[test]
fn environments_map_and_are_enforced() {
    let mut o = order(Store::AppStore);
    o.environment = Environment::Production;
    let r = genuine().issue(&o).unwrap();
    assert_eq!(
        check(&r, &app(), &anchors()).unwrap().environment,
        Environment::Production
    );
    assert_eq!(
        reason(check(
            &r,
            &app_with(genuine(), &[Environment::Sandbox]),
            &anchors()
        )),
        Reason::UntrustedEnvironment
    );
    let sandbox = genuine().issue(&order(Store::AppStore)).unwrap();
    let rej = check(
        &sandbox,
        &app_with(genuine(), &[Environment::Production]),
        &anchors(),
    )
    .unwrap_err();
    assert_eq!(rej.reason, Reason::UntrustedEnvironment);
    assert_eq!(rej.partial.environment, Some(Environment::Sandbox));
    // Xcode and LocalTesting are not production.
    for env in ["Xcode", "LocalTesting"] {
        let p = payload(genuine(), now()).replace("\"Sandbox\"", &format!("\"{env}\""));
        let r = jws(genuine()
            .sign_app_store_jws(&genuine().app_store_header(), &p)
            .unwrap());
        assert_eq!(
            reason(check(
                &r,
                &app_with(genuine(), &[Environment::Production]),
                &anchors()
            )),
            Reason::UntrustedEnvironment,
            "{env}"
        );
    }
}

#[test]
fn random_signature_is_bad_signature() {
    let Receipt::AppStore { jws: j } = genuine().issue(&order(Store::AppStore)).unwrap() else {
        unreachable!()
    };
    let p = parts_of(&j);
    let random = crate::test_support::random_signature(64);
    let random = URL_SAFE_NO_PAD.encode(STANDARD.decode(random).unwrap());
    let forged = format!("{}.{}.{random}", p[0], p[1]);
    assert_eq!(
        reason(check(&jws(forged), &app(), &anchors())),
        Reason::BadSignature
    );
    let short = format!("{}.{}.{}", p[0], p[1], &p[2][..20]);
    assert_eq!(
        reason(check(&jws(short), &app(), &anchors())),
        Reason::BadSignature
    );
}

#[test]
fn genuine_signature_over_altered_payload_is_bad_signature() {
    let Receipt::AppStore { jws: j } = genuine().issue(&order(Store::AppStore)).unwrap() else {
        unreachable!()
    };
    let p = parts_of(&j);
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
    for altered in [
        payload.replace("gems_100", "gems_999"),
        payload.replace(APP, "com.example.other"),
        payload.replace("\"Sandbox\"", "\"Production\""),
        payload.replace("\"quantity\":1", "\"quantity\":50"),
    ] {
        assert_ne!(altered, payload);
        let forged = format!("{}.{}.{}", p[0], URL_SAFE_NO_PAD.encode(&altered), p[2]);
        assert_eq!(
            reason(check(&jws(forged), &app(), &anchors())),
            Reason::BadSignature
        );
    }
    // Swapping in another chain while keeping the signature fails too.
    let other_header = URL_SAFE_NO_PAD.encode(attacker().app_store_header());
    let forged = format!("{other_header}.{}.{}", p[1], p[2]);
    assert_eq!(
        reason(check(&jws(forged), &app(), &anchors())),
        Reason::BadSignature
    );
}

#[test]
fn self_made_root_with_copied_oids_is_untrusted_chain() {
    // The attacker's store: its own root, an intermediate and leaf carrying Apple's OIDs.
    let r = attacker().issue(&order(Store::AppStore)).unwrap();
    let rej = check(&r, &app(), &anchors()).unwrap_err();
    assert_eq!(rej.reason, Reason::UntrustedChain);
    assert_eq!(
        rej.partial,
        Default::default(),
        "nothing read from untrusted data"
    );
    // Swapping the genuine root into x5c[2] changes nothing: the root comes from the anchors.
    let chain = attacker().app_store_chain();
    let genuine_root = genuine().app_store_chain().root;
    let header = header_with(&[&chain.leaf, &chain.intermediate, &genuine_root]);
    let r2 = jws(attacker()
        .sign_app_store_jws(&header, &payload(attacker(), now()))
        .unwrap());
    assert_eq!(
        reason(check(&r2, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // The same receipt passes when the attacker's root is configured: the test can fail.
    let theirs = roots(vec![chain.root.clone()]);
    assert!(check(&r, &app(), &theirs).is_ok());
    // A root with the same name as the genuine one, but another key.
    let fake_root = SandboxStore::make_app_store_root(&CertSpec::valid_around(now(), 5)).unwrap();
    let anchors_both = roots(vec![
        fake_root.der().to_vec(),
        genuine().app_store_chain().root,
    ]);
    assert!(check(
        &genuine().issue(&order(Store::AppStore)).unwrap(),
        &app(),
        &anchors_both
    )
    .is_ok());
    let only_fake = roots(vec![fake_root.der().to_vec()]);
    assert_eq!(
        reason(check(
            &genuine().issue(&order(Store::AppStore)).unwrap(),
            &app(),
            &only_fake
        )),
        Reason::UntrustedChain
    );
}

#[test]
fn alg_other_than_es256_is_bad_signature() {
    let Receipt::AppStore { jws: j } = genuine().issue(&order(Store::AppStore)).unwrap() else {
        unreachable!()
    };
    let p = parts_of(&j);
    let chain = genuine().app_store_chain();
    let x5c: Vec<String> = [&chain.leaf, &chain.intermediate, &chain.root]
        .iter()
        .map(|c| STANDARD.encode(c))
        .collect();
    for alg in ["none", "HS256", "ES384", "RS256", "es256", "EdDSA"] {
        let header = serde_json::json!({"alg": alg, "x5c": x5c}).to_string();
        let h = URL_SAFE_NO_PAD.encode(header);
        for sig in ["", p[2].as_str()] {
            let forged = format!("{h}.{}.{sig}", p[1]);
            assert_eq!(
                reason(check(&jws(forged), &app(), &anchors())),
                Reason::BadSignature,
                "alg {alg}"
            );
        }
    }
    let no_alg = URL_SAFE_NO_PAD.encode(serde_json::json!({"x5c": x5c}).to_string());
    assert_eq!(
        reason(check(
            &jws(format!("{no_alg}.{}.{}", p[1], p[2])),
            &app(),
            &anchors()
        )),
        Reason::BadSignature
    );
    // A `crit` header the verifier does not understand is refused even when signed.
    let crit = serde_json::json!({"alg": "ES256", "x5c": x5c, "crit": ["exp"]}).to_string();
    let r = jws(genuine()
        .sign_app_store_jws(&crit, &payload(genuine(), now()))
        .unwrap());
    assert_eq!(reason(check(&r, &app(), &anchors())), Reason::BadSignature);
}

#[test]
fn stripped_and_reordered_chains_are_untrusted_chain() {
    let c = genuine().app_store_chain();
    let p = payload(genuine(), now());
    let sign = |header: String| jws(genuine().sign_app_store_jws(&header, &p).unwrap());
    let cases: Vec<(&str, String)> = vec![
        ("leaf only", header_with(&[&c.leaf])),
        ("no x5c", r#"{"alg":"ES256"}"#.to_owned()),
        ("empty x5c", r#"{"alg":"ES256","x5c":[]}"#.to_owned()),
        (
            "intermediate first",
            header_with(&[&c.intermediate, &c.leaf, &c.root]),
        ),
        (
            "root second",
            header_with(&[&c.leaf, &c.root, &c.intermediate]),
        ),
        ("leaf and root", header_with(&[&c.leaf, &c.root])),
        (
            "four certificates",
            header_with(&[&c.leaf, &c.intermediate, &c.root, &c.root]),
        ),
        (
            "not base64",
            r#"{"alg":"ES256","x5c":["%%%","%%%"]}"#.to_owned(),
        ),
        (
            "not DER",
            format!(
                r#"{{"alg":"ES256","x5c":["{}","{}"]}}"#,
                STANDARD.encode(b"nope"),
                STANDARD.encode(b"nope")
            ),
        ),
    ];
    for (what, header) in cases {
        assert_eq!(
            reason(check(&sign(header), &app(), &anchors())),
            Reason::UntrustedChain,
            "{what}"
        );
    }
    // Leaf + intermediate without the root is what some clients send: accepted.
    assert!(check(
        &sign(header_with(&[&c.leaf, &c.intermediate])),
        &app(),
        &anchors()
    )
    .is_ok());
}

#[test]
fn leaf_without_marker_oid_is_untrusted_chain() {
    let s = genuine();
    let c = s.app_store_chain();
    let mut spec = CertSpec::valid_around(now(), 1);
    let p = payload(s, now());
    spec.marker_oid = false;
    let plain = s.make_app_store_leaf(None, &spec).unwrap();
    let r = signed_by(&plain, &[plain.der(), &c.intermediate, &c.root], &p);
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // Control: the same kind of new leaf with the marker passes.
    spec.marker_oid = true;
    let marked = s.make_app_store_leaf(None, &spec).unwrap();
    let r = signed_by(&marked, &[marked.der(), &c.intermediate, &c.root], &p);
    assert!(check(&r, &app(), &anchors()).is_ok());
}

#[test]
fn intermediate_without_marker_oid_or_leaf_under_root_is_untrusted_chain() {
    let s = genuine();
    let c = s.app_store_chain();
    let p = payload(s, now());
    let mut spec = CertSpec::valid_around(now(), 1);
    spec.marker_oid = false;
    let bare = s.make_app_store_intermediate(&spec).unwrap();
    let leaf = s
        .make_app_store_leaf(Some(&bare), &CertSpec::valid_around(now(), 1))
        .unwrap();
    let r = signed_by(&leaf, &[leaf.der(), bare.der(), &c.root], &p);
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // Control: an intermediate with the marker, same construction, passes.
    let marked = s
        .make_app_store_intermediate(&CertSpec::valid_around(now(), 1))
        .unwrap();
    let leaf = s
        .make_app_store_leaf(Some(&marked), &CertSpec::valid_around(now(), 1))
        .unwrap();
    let r = signed_by(&leaf, &[leaf.der(), marked.der(), &c.root], &p);
    assert!(check(&r, &app(), &anchors()).is_ok());
    // A leaf issued directly by the root (no intermediate) is refused.
    let direct = s
        .make_app_store_leaf(Some(s.app_store_root()), &CertSpec::valid_around(now(), 1))
        .unwrap();
    let r = signed_by(&direct, &[direct.der(), &c.root], &p);
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
}

#[test]
fn certificates_are_checked_at_signed_date() {
    let s = genuine();
    let c = s.app_store_chain();
    let t = now();
    // A leaf that expired a day ago.
    let expired = s
        .make_app_store_leaf(
            None,
            &CertSpec {
                marker_oid: true,
                not_before_ms: t - 10 * DAY,
                not_after_ms: t - DAY,
            },
        )
        .unwrap();
    let chain: [&[u8]; 3] = [expired.der(), &c.intermediate, &c.root];
    let r = signed_by(&expired, &chain, &payload(s, t));
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // Signed while it was valid: accepted (validity is judged at signedDate, not now).
    let r = signed_by(&expired, &chain, &payload(s, t - 5 * DAY));
    assert!(check(&r, &app(), &anchors()).is_ok());
    // A leaf not yet valid at signedDate.
    let r = signed_by(&expired, &chain, &payload(s, t - 20 * DAY));
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // An intermediate expired at signedDate.
    let old_inter = s
        .make_app_store_intermediate(&CertSpec {
            marker_oid: true,
            not_before_ms: t - 10 * DAY,
            not_after_ms: t - DAY,
        })
        .unwrap();
    let leaf = s
        .make_app_store_leaf(Some(&old_inter), &CertSpec::valid_around(t, 1))
        .unwrap();
    let r = signed_by(
        &leaf,
        &[leaf.der(), old_inter.der(), &c.root],
        &payload(s, t),
    );
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // The store's CA is back-dated one year: a transaction signed before the CA existed.
    let r = genuine()
        .issue_at(&order(Store::AppStore), t - 400 * DAY)
        .unwrap();
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
    // signedDate in the future.
    let r = genuine()
        .issue_at(&order(Store::AppStore), t + DAY)
        .unwrap();
    assert_eq!(
        reason(check(&r, &app(), &anchors())),
        Reason::UntrustedChain
    );
}

#[test]
fn revoked_wrong_app_and_unknown_app() {
    let mut o = order(Store::AppStore);
    o.state = PurchaseState::Cancelled;
    let rej = check(&genuine().issue(&o).unwrap(), &app(), &anchors()).unwrap_err();
    assert_eq!(rej.reason, Reason::Revoked);
    assert_eq!(rej.partial.product_id.as_deref(), Some("gems_100"));

    let other = payseal_sandbox::Order::new(Store::AppStore, "com.example.other", "gems_100");
    assert_eq!(
        reason(check(&genuine().issue(&other).unwrap(), &app(), &anchors())),
        Reason::WrongApp
    );
    let mut a = app();
    a.app_store = None;
    let rej = check(
        &genuine().issue(&order(Store::AppStore)).unwrap(),
        &a,
        &anchors(),
    )
    .unwrap_err();
    assert_eq!(rej.reason, Reason::UnknownApp);
    assert!(rej.detail.contains("app_store"));
    assert_eq!(
        reason(check(
            &genuine().issue(&order(Store::AppStore)).unwrap(),
            &app(),
            &TrustAnchors::default()
        )),
        Reason::UntrustedChain
    );
}

#[test]
fn malformed_jws_and_signed_garbage() {
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.e30", "e30.e30.e30"] {
        let r = reason(check(&jws(bad.into()), &app(), &anchors()));
        assert!(
            matches!(r, Reason::Malformed | Reason::BadSignature),
            "{bad}: {r:?}"
        );
    }
    assert_eq!(
        reason(check(&jws("a.b".into()), &app(), &anchors())),
        Reason::Malformed
    );
    let r = jws(genuine()
        .sign_app_store_jws(&genuine().app_store_header(), r#"{"bundleId":"x"}"#)
        .unwrap());
    assert_eq!(reason(check(&r, &app(), &anchors())), Reason::Malformed);
}

/// `../shared/apple/AppleRootCA-G3.pem`: Apple's real root.
fn apple_root_der() -> Vec<u8> {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/apple/AppleRootCA-G3.pem"
    ))
    .unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    parsed.contents
}

#[test]
fn only_the_configured_root_is_trusted() {
    let apple = apple_root_der();
    let (_, cert) = x509_parser::parse_x509_certificate(&apple).unwrap();
    assert!(cert.subject().to_string().contains("Apple Root CA - G3"));
    let r = genuine().issue(&order(Store::AppStore)).unwrap();
    let apple_only = roots(vec![apple.clone()]);
    assert_eq!(
        reason(check(&r, &app(), &apple_only)),
        Reason::UntrustedChain
    );
    let sandbox_root = roots(vec![genuine().app_store_chain().root]);
    assert!(check(&r, &app(), &sandbox_root).is_ok());
    let both = roots(vec![apple.clone(), genuine().app_store_chain().root]);
    assert!(check(&r, &app(), &both).is_ok());
    // A chain verified once under one root is not remembered as trusted under another.
    assert_eq!(
        reason(check(&r, &app(), &apple_only)),
        Reason::UntrustedChain
    );
    assert_eq!(
        reason(check(&r, &app(), &TrustAnchors::default())),
        Reason::UntrustedChain
    );
}

/// A real Apple-signed StoreKit 2 sandbox transaction (see `fixtures/README.md`).
const APPLE_JWS: &str = include_str!("fixtures/apple-sandbox-consumable.jws");
/// Its `signedDate`.
const APPLE_SIGNED_DATE: i64 = 1_739_161_772_561;

fn apple_app() -> AppRules {
    let mut a = app_with(genuine(), &[Environment::Sandbox]);
    a.app_id = "com.goodheartapp".into();
    a.app_store = Some(crate::AppStoreRules {
        bundle_id: "com.goodheartapp".into(),
    });
    a
}

#[test]
fn real_apple_transaction_needs_the_apple_root() {
    let r = jws(APPLE_JWS.trim().to_owned());
    let apple_only = roots(vec![apple_root_der()]);
    let p = check_receipt(&r, &apple_app(), &apple_only, APPLE_SIGNED_DATE).unwrap();
    assert_eq!(p.transaction_key, "2000000847061981");
    assert_eq!(p.product_id, "gh_super_good_ticket_1");
    assert_eq!(p.environment, Environment::Sandbox);
    assert_eq!(p.purchased_at, 1_738_645_560_000);
    // Validity is judged at signedDate: still accepted today, though the leaf has since expired.
    assert!(check_receipt(&r, &apple_app(), &apple_only, now()).is_ok());

    // Not trusted without the Apple root: only the sandbox root, or nothing configured.
    for anchors in [anchors(), TrustAnchors::default()] {
        assert_eq!(
            reason(check_receipt(&r, &apple_app(), &anchors, APPLE_SIGNED_DATE)),
            Reason::UntrustedChain
        );
    }
    // Another app's bundle id, and a production-only app.
    assert_eq!(
        reason(check_receipt(&r, &app(), &apple_only, APPLE_SIGNED_DATE)),
        Reason::WrongApp
    );
    let mut prod = apple_app();
    prod.environments = vec![Environment::Production];
    assert_eq!(
        reason(check_receipt(&r, &prod, &apple_only, APPLE_SIGNED_DATE)),
        Reason::UntrustedEnvironment
    );
    // Apple's signature does not survive an edit of the payload.
    let p: Vec<&str> = APPLE_JWS.trim().split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
    let edited = payload.replace("gh_super_good_ticket_1", "gh_super_good_ticket_9");
    assert_ne!(edited, payload);
    let forged = format!("{}.{}.{}", p[0], URL_SAFE_NO_PAD.encode(edited), p[2]);
    assert_eq!(
        reason(check_receipt(
            &jws(forged),
            &apple_app(),
            &apple_only,
            APPLE_SIGNED_DATE
        )),
        Reason::BadSignature
    );
    // Apple's chain with the leaf alone (stripped) is refused.
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
    let stripped = serde_json::json!({"alg": "ES256", "x5c": [header["x5c"][0]]}).to_string();
    let forged = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(stripped), p[1], p[2]);
    assert_eq!(
        reason(check_receipt(
            &jws(forged),
            &apple_app(),
            &apple_only,
            APPLE_SIGNED_DATE
        )),
        Reason::UntrustedChain
    );
}

#[test]
fn a_verified_chain_is_cached_by_its_anchors_and_only_for_that_chain() {
    use crate::ChainCacheStats;
    let s = genuine();
    let c = s.app_store_chain();
    let t = now();
    let anchors = anchors();
    let stats = |hits, misses, len| ChainCacheStats { hits, misses, len };

    // First transaction: a miss, the chain verified in full and remembered.
    let r = genuine().issue(&order(Store::AppStore)).unwrap();
    assert!(check(&r, &app(), &anchors).is_ok());
    assert_eq!(anchors.app_store_chain_stats(), stats(0, 1, 1));
    // Another transaction under the same chain: a hit, still paid.
    let r = genuine().issue(&order(Store::AppStore)).unwrap();
    assert!(check(&r, &app(), &anchors).is_ok());
    assert_eq!(anchors.app_store_chain_stats(), stats(1, 1, 1));
    // A hit still checks the JWS signature: an edited payload under the cached chain is refused.
    let p = parts_of(&match r {
        Receipt::AppStore { jws } => jws,
        _ => unreachable!(),
    });
    let edited = payload(s, t).replace("gems_100", "gems_999");
    let forged = format!("{}.{}.{}", p[0], URL_SAFE_NO_PAD.encode(edited), p[2]);
    assert_eq!(
        reason(check(&jws(forged), &app(), &anchors)),
        Reason::BadSignature
    );
    assert_eq!(anchors.app_store_chain_stats(), stats(2, 1, 1));

    // A different chain (another leaf under the same intermediate) is not a hit.
    let leaf = s
        .make_app_store_leaf(None, &CertSpec::valid_around(t, 30))
        .unwrap();
    let other = signed_by(&leaf, &[leaf.der(), &c.intermediate], &payload(s, t));
    assert!(check(&other, &app(), &anchors).is_ok());
    assert_eq!(anchors.app_store_chain_stats(), stats(2, 2, 2));
    // A chain that fails is not remembered: the attacker's chain misses every time.
    let forged = attacker().issue(&order(Store::AppStore)).unwrap();
    for misses in [3, 4] {
        assert_eq!(
            reason(check(&forged, &app(), &anchors)),
            Reason::UntrustedChain
        );
        assert_eq!(anchors.app_store_chain_stats(), stats(2, misses, 2));
    }

    // An expired leaf: its chain passes (and is cached) for a transaction signed while it was
    // valid; a later transaction under the same cached chain still fails at its signedDate.
    let expired = s
        .make_app_store_leaf(
            None,
            &CertSpec {
                marker_oid: true,
                not_before_ms: t - 10 * DAY,
                not_after_ms: t - DAY,
            },
        )
        .unwrap();
    let chain: [&[u8]; 2] = [expired.der(), &c.intermediate];
    let then = signed_by(&expired, &chain, &payload(s, t - 5 * DAY));
    assert!(check(&then, &app(), &anchors).is_ok());
    assert_eq!(anchors.app_store_chain_stats(), stats(2, 5, 3));
    let today = signed_by(&expired, &chain, &payload(s, t));
    let rej = check(&today, &app(), &anchors).unwrap_err();
    assert_eq!(rej.reason, Reason::UntrustedChain);
    assert!(
        rej.detail.contains("leaf certificate is not valid"),
        "{}",
        rej.detail
    );
    assert_eq!(anchors.app_store_chain_stats(), stats(3, 5, 3));

    // Other anchors have their own, empty cache.
    assert_eq!(
        TrustAnchors::default().app_store_chain_stats(),
        ChainCacheStats::default()
    );
}
