//! App receipt rule: genuine sandbox-store receipts, and every forgery and refusal the issue
//! names (re-signed, truncated, altered, another bundle, another root, unmarked or expired
//! signer, a missing transaction, a cancelled entry, a sandbox receipt to a production app).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use payseal_protocol::{Environment, PurchaseKind, Reason, Receipt, Store};
use payseal_sandbox::{CertSpec, IssuedCert, Order, ProductType, PurchaseState, SandboxStore};

use super::payload::{AppReceipt, PayloadError};
use crate::test_support::*;
use crate::{check_receipt, AppRules, Purchase, Rejection, TrustAnchors};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    payseal_sandbox::now_ms()
}

fn check(receipt: &Receipt) -> Result<Purchase, Rejection> {
    check_with(receipt, &app(), &anchors())
}

fn check_with(
    receipt: &Receipt,
    app: &AppRules,
    anchors: &TrustAnchors,
) -> Result<Purchase, Rejection> {
    check_receipt(receipt, app, anchors, now())
}

fn app_order(tx: &str) -> Order {
    let mut o = order(Store::AppStore);
    o.transaction_id = Some(tx.into());
    o
}

fn receipt(app_receipt: String, tx: &str) -> Receipt {
    Receipt::AppStoreReceipt {
        app_receipt,
        transaction_id: tx.into(),
    }
}

fn parts(r: &Receipt) -> (String, String) {
    match r {
        Receipt::AppStoreReceipt {
            app_receipt,
            transaction_id,
        } => (app_receipt.clone(), transaction_id.clone()),
        other => panic!("not an app receipt: {other:?}"),
    }
}

/// The genuine payload of `orders`, created a second ago.
fn payload_of(store: &SandboxStore, orders: &[Order]) -> Vec<u8> {
    let ids: Vec<String> = orders
        .iter()
        .map(|o| o.transaction_id.clone().unwrap())
        .collect();
    store
        .app_receipt_payload(orders, &ids, now() - 1000)
        .unwrap()
}

#[test]
fn a_genuine_app_receipt_pays_with_the_storekit_2_ledger_key() {
    let mut o = app_order("1000000111111111");
    o.quantity = 3;
    let r = genuine().issue_app_receipt(&o).unwrap();
    let p = check(&r).unwrap();
    assert_eq!(p.store, Store::AppStore);
    assert_eq!(p.environment, Environment::Sandbox);
    assert_eq!(p.product_id, "gems_100");
    assert_eq!(p.quantity, 3);
    assert_eq!(p.transaction_id, "1000000111111111");
    assert_eq!(
        p.original_transaction_id.as_deref(),
        Some("1000000111111111")
    );
    assert_eq!(
        p.kind, None,
        "an app receipt does not say consumable or not"
    );
    assert!((now() - p.purchased_at).abs() < 60_000);

    // The same purchase as a StoreKit 2 JWS: the same store and ledger key.
    let jws = genuine().issue(&o).unwrap();
    let q = check(&jws).unwrap();
    assert_eq!(
        (q.store, q.transaction_key.as_str()),
        (p.store, p.transaction_key.as_str())
    );
}

#[test]
fn the_named_entry_of_several_is_redeemed_and_a_missing_one_is_not_purchased() {
    let a = app_order("1000000000000001");
    let mut b = app_order("1000000000000002");
    b.product_id = "sword".into();
    let r = genuine()
        .issue_app_receipt_at(&[a, b], now() - 1000)
        .unwrap();
    let (b64, first) = parts(&r);
    assert_eq!(first, "1000000000000001");
    assert_eq!(
        check(&receipt(b64.clone(), "1000000000000002"))
            .unwrap()
            .product_id,
        "sword"
    );
    let refused = check(&receipt(b64.clone(), "1000000000000003")).unwrap_err();
    assert_eq!(refused.reason, Reason::NotPurchased);
    assert!(
        refused.detail.contains("1000000000000003"),
        "{}",
        refused.detail
    );
    // A request naming no transaction.
    for blank in ["", "  "] {
        assert_eq!(
            reason(check(&receipt(b64.clone(), blank))),
            Reason::Malformed
        );
    }
}

#[test]
fn a_receipt_re_signed_by_another_chain_is_untrusted() {
    let o = app_order("1000000222222222");
    let payload = payload_of(genuine(), &[o]);
    // The attacker's own store: its own "Apple" root, intermediate and signer, markers copied.
    let forged = attacker()
        .sign_app_receipt(&payload, None, None, false)
        .unwrap();
    let refused = check(&receipt(forged, "1000000222222222")).unwrap_err();
    assert_eq!(refused.reason, Reason::UntrustedChain);
    assert!(refused.partial.product_id.is_none(), "nothing read from it");
}

#[test]
fn truncated_or_not_base64_is_malformed() {
    let r = genuine()
        .issue_app_receipt(&app_order("1000000333333333"))
        .unwrap();
    let (b64, tx) = parts(&r);
    let der = STANDARD.decode(&b64).unwrap();
    for cut in [der.len() / 2, der.len() - 1, 10] {
        let truncated = STANDARD.encode(&der[..cut]);
        assert_eq!(
            reason(check(&receipt(truncated, &tx))),
            Reason::Malformed,
            "cut at {cut}"
        );
    }
    assert_eq!(
        reason(check(&receipt("not base64!".into(), &tx))),
        Reason::Malformed
    );
    assert_eq!(
        reason(check(&receipt(STANDARD.encode(b"{}"), &tx))),
        Reason::Malformed
    );
    // Wrapped in lines (as some devices hand it over), it still verifies.
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert!(check(&receipt(wrapped, &tx)).is_ok());
}

/// Replace `from` by `to` (same length) in the receipt's DER.
fn altered(b64: &str, from: &[u8], to: &[u8]) -> String {
    assert_eq!(from.len(), to.len());
    let mut der = STANDARD.decode(b64).unwrap();
    let at = der
        .windows(from.len())
        .position(|w| w == from)
        .expect("bytes to alter");
    der[at..at + from.len()].copy_from_slice(to);
    STANDARD.encode(der)
}

#[test]
fn an_altered_payload_is_bad_signature() {
    for signed_attributes in [false, true] {
        let o = app_order("1000000444444444");
        let payload = payload_of(genuine(), std::slice::from_ref(&o));
        let b64 = genuine()
            .sign_app_receipt(&payload, None, None, signed_attributes)
            .unwrap();
        assert!(check(&receipt(b64.clone(), "1000000444444444")).is_ok());
        for (from, to) in [
            (&b"gems_100"[..], &b"gems_999"[..]),
            (b"ProductionSandbox", b"ProductionXandbox"),
            (b"1000000444444444", b"1000000444444445"),
        ] {
            let forged = altered(&b64, from, to);
            let tx = if from.starts_with(b"1000") {
                "1000000444444445"
            } else {
                "1000000444444444"
            };
            assert_eq!(
                reason(check(&receipt(forged, tx))),
                Reason::BadSignature,
                "{} (signed attributes: {signed_attributes})",
                String::from_utf8_lossy(from)
            );
        }
    }
}

#[test]
fn another_bundle_is_wrong_app() {
    let mut o = app_order("1000000555555555");
    o.app_id = "com.example.other".into();
    let r = genuine().issue_app_receipt(&o).unwrap();
    let refused = check(&r).unwrap_err();
    assert_eq!(refused.reason, Reason::WrongApp);
    assert_eq!(
        refused.partial.transaction_id.as_deref(),
        Some("1000000555555555")
    );
}

/// `../shared/apple/AppleIncRootCertificate.pem`: Apple's real app receipt root.
fn apple_inc_root_der() -> Vec<u8> {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/apple/AppleIncRootCertificate.pem"
    ))
    .unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    parsed.contents
}

#[test]
fn only_the_configured_receipt_root_is_trusted() {
    let apple = apple_inc_root_der();
    let (_, cert) = x509_parser::parse_x509_certificate(&apple).unwrap();
    assert!(cert.subject().to_string().contains("Apple Root CA"));
    let r = genuine()
        .issue_app_receipt(&app_order("1000000666666666"))
        .unwrap();
    let g3 = genuine().app_store_chain().root;
    let with = |receipt_roots: Vec<Vec<u8>>| {
        roots(vec![g3.clone()])
            .with_receipt_roots(receipt_roots)
            .unwrap()
    };
    // Apple's real root, none, or only the StoreKit 2 root: not this store's receipts.
    for anchors in [
        with(vec![apple.clone()]),
        with(vec![]),
        roots(vec![g3.clone()]),
    ] {
        assert_eq!(
            reason(check_with(&r, &app(), &anchors)),
            Reason::UntrustedChain
        );
    }
    // The StoreKit 2 root is never an app receipt root, nor the reverse.
    let swapped = roots(vec![genuine().app_receipt_chain().root])
        .with_receipt_roots(vec![g3.clone()])
        .unwrap();
    assert_eq!(
        reason(check_with(&r, &app(), &swapped)),
        Reason::UntrustedChain
    );
    assert_eq!(
        reason(check_with(
            &genuine().issue(&order(Store::AppStore)).unwrap(),
            &app(),
            &swapped
        )),
        Reason::UntrustedChain
    );
    assert!(check_with(
        &r,
        &app(),
        &with(vec![apple, genuine().app_receipt_chain().root])
    )
    .is_ok());
    assert!(matches!(
        roots(vec![]).with_receipt_roots(vec![b"not a certificate".to_vec()]),
        Err(crate::TrustAnchorError::ReceiptRootNotCertificate { index: 0 })
    ));
}

/// A signer issued by the genuine intermediate, as `spec` says.
fn signer(spec: CertSpec) -> IssuedCert {
    genuine().make_app_receipt_leaf(None, &spec).unwrap()
}

fn signed_by(leaf: &IssuedCert, tx: &str) -> Receipt {
    let payload = payload_of(genuine(), &[app_order(tx)]);
    let inter = genuine().app_receipt_intermediate();
    let b64 = genuine()
        .sign_app_receipt(
            &payload,
            Some(leaf),
            Some(&[leaf.der(), inter.der()]),
            false,
        )
        .unwrap();
    receipt(b64, tx)
}

#[test]
fn an_unmarked_or_expired_signer_is_untrusted() {
    let ok = signer(CertSpec::valid_around(now(), 1));
    assert!(check(&signed_by(&ok, "1000000777777770")).is_ok());
    let unmarked = signer(CertSpec {
        marker_oid: false,
        ..CertSpec::valid_around(now(), 1)
    });
    let expired = signer(CertSpec {
        marker_oid: true,
        not_before_ms: now() - 400 * DAY,
        not_after_ms: now() - 2 * DAY,
    });
    let not_yet = signer(CertSpec {
        marker_oid: true,
        not_before_ms: now() + DAY,
        not_after_ms: now() + 400 * DAY,
    });
    for (what, leaf) in [
        ("unmarked", unmarked),
        ("expired", expired),
        ("not yet valid", not_yet),
    ] {
        let refused = check(&signed_by(&leaf, "1000000777777771")).unwrap_err();
        assert_eq!(
            refused.reason,
            Reason::UntrustedChain,
            "{what}: {}",
            refused.detail
        );
    }
    // An intermediate without Apple's WWDR marker.
    let plain_inter = genuine()
        .make_app_receipt_intermediate(
            None,
            &CertSpec {
                marker_oid: false,
                ..CertSpec::valid_around(now(), 2)
            },
        )
        .unwrap();
    let leaf = genuine()
        .make_app_receipt_leaf(Some(&plain_inter), &CertSpec::valid_around(now(), 1))
        .unwrap();
    let payload = payload_of(genuine(), &[app_order("1000000777777772")]);
    let b64 = genuine()
        .sign_app_receipt(
            &payload,
            Some(&leaf),
            Some(&[leaf.der(), plain_inter.der()]),
            false,
        )
        .unwrap();
    assert_eq!(
        reason(check(&receipt(b64, "1000000777777772"))),
        Reason::UntrustedChain
    );
    // A receipt without its intermediate, or without its signer's certificate.
    let payload = payload_of(genuine(), &[app_order("1000000777777773")]);
    let chain = genuine().app_receipt_chain();
    for certs in [
        vec![chain.leaf.as_slice()],
        vec![chain.intermediate.as_slice()],
    ] {
        let b64 = genuine()
            .sign_app_receipt(&payload, None, Some(&certs), false)
            .unwrap();
        assert_eq!(
            reason(check(&receipt(b64, "1000000777777773"))),
            Reason::UntrustedChain
        );
    }
}

#[test]
fn a_cancelled_entry_is_revoked() {
    let mut o = app_order("1000000888888888");
    o.state = PurchaseState::Refunded;
    let refused = check(&genuine().issue_app_receipt(&o).unwrap()).unwrap_err();
    assert_eq!(refused.reason, Reason::Revoked);
    assert_eq!(refused.partial.product_id.as_deref(), Some("gems_100"));
}

#[test]
fn environments_map_and_a_sandbox_receipt_to_a_production_app_is_refused() {
    let production_app = app_with(genuine(), &[Environment::Production]);
    let sandbox = genuine()
        .issue_app_receipt(&app_order("1000000999999990"))
        .unwrap();
    assert_eq!(
        reason(check_with(&sandbox, &production_app, &anchors())),
        Reason::UntrustedEnvironment
    );
    let mut o = app_order("1000000999999991");
    o.environment = Environment::Production;
    let production = genuine().issue_app_receipt(&o).unwrap();
    assert_eq!(
        check_with(&production, &production_app, &anchors())
            .unwrap()
            .environment,
        Environment::Production
    );
}

#[test]
fn subscriptions_are_keyed_by_their_chain_and_expire_by_date() {
    let mut o = Order::subscription(
        Store::AppStore,
        APP,
        "pro_monthly",
        now() + 10 * DAY,
        Some("1000000123000000".into()),
    );
    o.transaction_id = Some("1000000123000005".into());
    let p = check(&genuine().issue_app_receipt(&o).unwrap()).unwrap();
    assert_eq!(p.kind, Some(PurchaseKind::Subscription));
    assert_eq!(p.transaction_key, "1000000123000000");
    assert_eq!(p.transaction_id, "1000000123000005");
    assert!(p.expires_at.unwrap() > now());
    // The same renewal as a StoreKit 2 JWS has the same key.
    assert_eq!(
        check(&genuine().issue(&o).unwrap())
            .unwrap()
            .transaction_key,
        p.transaction_key
    );
    o.expires_at = Some(now() - DAY);
    o.product_type = ProductType::AutoRenewableSubscription;
    assert_eq!(
        reason(check(&genuine().issue_app_receipt(&o).unwrap())),
        Reason::Expired
    );
}

#[test]
fn an_app_without_app_store_settings_is_unknown_app() {
    let mut a = app();
    a.app_store = None;
    let r = genuine()
        .issue_app_receipt(&app_order("1000000999999992"))
        .unwrap();
    assert_eq!(reason(check_with(&r, &a, &anchors())), Reason::UnknownApp);
}

#[test]
fn the_payload_decoder_names_what_is_wrong() {
    let ids = vec!["1000000000000009".to_string()];
    let der = genuine()
        .app_receipt_payload(&[app_order(&ids[0])], &ids, now())
        .unwrap();
    let r = AppReceipt::from_der(&der).unwrap();
    assert_eq!(r.bundle_id, APP);
    assert!(!r.production());
    assert_eq!(r.in_app.len(), 1);
    assert_eq!(r.in_app[0].transaction_id, ids[0]);
    assert!(matches!(
        AppReceipt::from_der(&der[..der.len() - 3]),
        Err(PayloadError::Structure(_))
    ));
    assert!(matches!(
        AppReceipt::from_der(&[0x31, 0x00]),
        Err(PayloadError::Missing(2))
    ));
}
