//! Huawei AppGallery: SHA256WithRSA (PKCS#1 v1.5), or RSA-PSS when the receipt says
//! `SHA256WithRSA/PSS` (SHA-256, MGF1-SHA-256, salt 32), over the exact `InAppPurchaseData` bytes.
//!
//! **Kinds** (`kind`): 0 consumable, 1 non-consumable (ledger key `orderId`); 2 auto-renewable
//! subscription: `expirationDate` required (`malformed` without), keyed by `subscriptionId`
//! (kept by every renewal; each renewal has a new `orderId`), else by `purchaseToken` (which
//! Huawei also keeps across normal renewals); `subIsvalid: false` ends it whatever the date
//! (`expired`); 3 non-renewable subscription (keyed by `orderId`, `expirationDate` when given).
//! Another `kind` is `malformed`; no `kind` (older receipts) has no kind and is keyed by
//! `orderId`. A switch to another product of the group gets a new `subscriptionId`
//! (`oriSubscriptionId` names the old one): it is a new chain with its own first owner.

use payseal_protocol::{Environment, HuaweiAlgorithm, PurchaseKind, Reason, Store};
use serde::Deserialize;

use super::{
    decode_signature, signed_json, AppRules, Claimed, DataAndSignature, HuaweiRules, Refusal,
    Rejection, StoreRule, TrustAnchors,
};

/// The Huawei AppGallery rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HuaweiRule;

/// The fields of `InAppPurchaseData` that the rule reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HuaweiPurchase {
    order_id: String,
    package_name: String,
    product_id: String,
    purchase_time: i64,
    /// -1 initialized (pending), 0 purchased, 1 cancelled, 2 refunded.
    purchase_state: i64,
    /// `0` for sandbox purchases; absent for real money.
    purchase_type: Option<i64>,
    quantity: Option<u32>,
    /// 0 consumable, 1 non-consumable, 2 auto-renewable subscription, 3 non-renewable.
    kind: Option<i64>,
    /// Subscriptions: end of the paid period, Unix milliseconds.
    expiration_date: Option<i64>,
    /// Subscriptions: whether the subscription is still valid.
    sub_isvalid: Option<bool>,
    /// Subscriptions: the subscription's id, kept by its renewals.
    subscription_id: Option<String>,
    /// The purchase token (kept by a subscription's normal renewals).
    purchase_token: Option<String>,
}

impl HuaweiPurchase {
    /// The kind, `Err` for a `kind` value the rule does not know.
    fn purchase_kind(&self) -> Result<Option<PurchaseKind>, i64> {
        match self.kind {
            None => Ok(None),
            Some(0) => Ok(Some(PurchaseKind::Consumable)),
            Some(1) => Ok(Some(PurchaseKind::NonConsumable)),
            Some(2 | 3) => Ok(Some(PurchaseKind::Subscription)),
            Some(other) => Err(other),
        }
    }
}

/// The decoded signature, its algorithm and the exact `InAppPurchaseData` it covers.
pub(crate) struct ParsedHuawei<'r> {
    data: &'r str,
    signature: Vec<u8>,
    algorithm: HuaweiAlgorithm,
}

impl StoreRule for HuaweiRule {
    const STORE: Store = Store::Huawei;
    type Input<'r> = (DataAndSignature<'r>, HuaweiAlgorithm);
    type Settings = HuaweiRules;
    type Parsed<'r> = ParsedHuawei<'r>;
    type Signed = HuaweiPurchase;

    fn settings(app: &AppRules) -> Option<&HuaweiRules> {
        app.huawei.as_ref()
    }

    fn parse<'r>((input, algorithm): Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection> {
        Ok(ParsedHuawei {
            data: input.data,
            signature: decode_signature(input.signature)?,
            algorithm,
        })
    }

    fn verify_signature(
        parsed: ParsedHuawei<'_>,
        rules: &HuaweiRules,
        _anchors: &TrustAnchors,
        _now_ms: i64,
    ) -> Result<HuaweiPurchase, Rejection> {
        // ring's PSS verification uses MGF1 with the same hash and a salt as long as the digest
        // (32 bytes), which is what Huawei's SHA256WithRSA/PSS uses.
        let (params, name) = match parsed.algorithm {
            HuaweiAlgorithm::Sha256WithRsa => (
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                "SHA256WithRSA",
            ),
            HuaweiAlgorithm::Sha256WithRsaPss => (
                &ring::signature::RSA_PSS_2048_8192_SHA256,
                "SHA256WithRSA/PSS",
            ),
        };
        if !rules
            .public_key
            .verifies(params, parsed.data.as_bytes(), &parsed.signature)
        {
            return Err(Rejection::new(
                Reason::BadSignature,
                format!("{name} signature does not verify with the app's key"),
            ));
        }
        let p: HuaweiPurchase = signed_json(parsed.data, "InAppPurchaseData")?;
        if p.order_id.is_empty() {
            return Err(Rejection::new(
                Reason::Malformed,
                "signed purchase has an empty orderId",
            ));
        }
        Ok(p)
    }

    fn check_binding_and_state(
        p: &HuaweiPurchase,
        rules: &HuaweiRules,
        _app: &AppRules,
    ) -> Result<(), Refusal> {
        if p.package_name != rules.package_name {
            return Err(Refusal::new(
                Reason::WrongApp,
                format!(
                    "packageName {} is not {}",
                    p.package_name, rules.package_name
                ),
            ));
        }
        if let Err(kind) = p.purchase_kind() {
            return Err(Refusal::new(
                Reason::Malformed,
                format!("unknown kind {kind}"),
            ));
        }
        if p.kind == Some(2) && p.expiration_date.is_none() {
            return Err(Refusal::new(
                Reason::Malformed,
                "auto-renewable subscription without expirationDate",
            ));
        }
        match p.purchase_state {
            0 => Ok(()),
            2 => Err(Refusal::new(Reason::Revoked, "purchaseState 2 (refunded)")),
            s => {
                let what = match s {
                    -1 => "initialized, not paid",
                    1 => "cancelled",
                    _ => "unknown state",
                };
                Err(Refusal::new(
                    Reason::NotPurchased,
                    format!("purchaseState {s} ({what})"),
                ))
            }
        }
    }

    fn extract(p: &HuaweiPurchase) -> Claimed {
        let kind = p.purchase_kind().ok().flatten();
        let auto_renewable = p.kind == Some(2);
        let chain = [&p.subscription_id, &p.purchase_token]
            .into_iter()
            .flatten()
            .find(|id| !id.is_empty());
        let transaction_key = match chain {
            Some(id) if auto_renewable => id.clone(),
            _ => p.order_id.clone(),
        };
        Claimed {
            environment: if p.purchase_type == Some(0) {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            product_id: p.product_id.clone(),
            // The chain, for the verdict's `original_transaction_id` too.
            original_transaction_id: auto_renewable.then(|| transaction_key.clone()),
            transaction_key,
            transaction_id: p.order_id.clone(),
            quantity: p.quantity,
            purchased_at: p.purchase_time,
            // InAppPurchaseData has no account token field (`developerPayload` is free text).
            account_token: None,
            kind,
            expires_at: p
                .expiration_date
                .filter(|_| kind == Some(PurchaseKind::Subscription)),
            ended: (auto_renewable && p.sub_isvalid == Some(false))
                .then_some("subIsvalid: false (the subscription is no longer valid)"),
            purchase_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{AppRules, Purchase, Rejection};
    use payseal_protocol::{Environment, HuaweiAlgorithm, Reason, Receipt, Store};
    use payseal_sandbox::PurchaseState;

    fn check(receipt: &Receipt, app: &AppRules) -> Result<Purchase, Rejection> {
        crate::check_receipt(receipt, app, &anchors(), 0)
    }

    fn huawei(purchase_data: String, signature: String, algorithm: HuaweiAlgorithm) -> Receipt {
        Receipt::Huawei {
            purchase_data,
            signature,
            algorithm,
        }
    }

    #[test]
    fn genuine_pkcs1_and_pss_purchases_are_paid() {
        let mut o = order(Store::Huawei);
        o.transaction_id = Some("2026112509115300.102235243".into());
        let p = check(&genuine().issue(&o).unwrap(), &app()).unwrap();
        assert_eq!(p.store, Store::Huawei);
        assert_eq!(p.environment, Environment::Sandbox);
        assert_eq!(p.transaction_key, "2026112509115300.102235243");
        assert_eq!(p.product_id, "gems_100");
        assert_eq!(p.quantity, 1);

        o.environment = Environment::Production;
        let pss = genuine().issue_huawei_pss(&o).unwrap();
        let p = check(&pss, &app()).unwrap();
        assert_eq!(p.environment, Environment::Production);
    }

    #[test]
    fn algorithm_label_must_match_the_signature() {
        let r = genuine().issue_huawei_pss(&order(Store::Huawei)).unwrap();
        let (data, sig) = parts(&r);
        assert_eq!(
            reason(check(
                &huawei(data, sig, HuaweiAlgorithm::Sha256WithRsa),
                &app()
            )),
            Reason::BadSignature
        );
        let r = genuine().issue(&order(Store::Huawei)).unwrap();
        let (data, sig) = parts(&r);
        assert_eq!(
            reason(check(
                &huawei(data, sig, HuaweiAlgorithm::Sha256WithRsaPss),
                &app()
            )),
            Reason::BadSignature
        );
    }

    #[test]
    fn random_signature_and_altered_json_are_bad_signature() {
        let (data, sig) = parts(&genuine().issue(&order(Store::Huawei)).unwrap());
        for alg in [
            HuaweiAlgorithm::Sha256WithRsa,
            HuaweiAlgorithm::Sha256WithRsaPss,
        ] {
            assert_eq!(
                reason(check(
                    &huawei(data.clone(), random_signature(256), alg),
                    &app()
                )),
                Reason::BadSignature
            );
        }
        for altered in [
            data.replace("gems_100", "gems_999"),
            data.replace(APP, "com.example.other"),
            data.replace("\"purchaseState\":0", "\"purchaseState\":1"),
        ] {
            assert_ne!(altered, data);
            assert_eq!(
                reason(check(
                    &huawei(altered, sig.clone(), HuaweiAlgorithm::Sha256WithRsa),
                    &app()
                )),
                Reason::BadSignature
            );
        }
    }

    #[test]
    fn attackers_own_key_is_bad_signature() {
        let r = attacker().issue(&order(Store::Huawei)).unwrap();
        assert_eq!(reason(check(&r, &app())), Reason::BadSignature);
        let r = attacker().issue_huawei_pss(&order(Store::Huawei)).unwrap();
        assert_eq!(reason(check(&r, &app())), Reason::BadSignature);
        assert!(check(&r, &app_with(attacker(), &[Environment::Sandbox])).is_ok());
    }

    #[test]
    fn wrong_app_states_and_environment() {
        let o = payseal_sandbox::Order::new(Store::Huawei, "com.example.other", "gems_100");
        assert_eq!(
            reason(check(&genuine().issue(&o).unwrap(), &app())),
            Reason::WrongApp
        );
        for state in [PurchaseState::Pending, PurchaseState::Cancelled] {
            let mut o = order(Store::Huawei);
            o.state = state;
            assert_eq!(
                reason(check(&genuine().issue(&o).unwrap(), &app())),
                Reason::NotPurchased,
                "{state:?}"
            );
        }
        // Refunded (2): the store signed it, so sign it honestly with the store key.
        let (data, _) = parts(&genuine().issue(&order(Store::Huawei)).unwrap());
        let refunded = data.replace("\"purchaseState\":0", "\"purchaseState\":2");
        assert_ne!(refunded, data);
        let sig = genuine().sign_huawei(&refunded, HuaweiAlgorithm::Sha256WithRsa);
        let rej = check(
            &huawei(refunded, sig, HuaweiAlgorithm::Sha256WithRsa),
            &app(),
        )
        .unwrap_err();
        assert_eq!(rej.reason, Reason::Revoked);
        assert!(rej.partial.transaction_id.is_some());

        let r = genuine().issue(&order(Store::Huawei)).unwrap();
        assert_eq!(
            reason(check(&r, &app_with(genuine(), &[Environment::Production]))),
            Reason::UntrustedEnvironment
        );
        let mut a = app();
        a.huawei = None;
        assert_eq!(reason(check(&r, &a)), Reason::UnknownApp);
    }

    #[test]
    fn signed_garbage_is_malformed() {
        let data = "[1,2,3]".to_owned();
        let sig = genuine().sign_huawei(&data, HuaweiAlgorithm::Sha256WithRsa);
        assert_eq!(
            reason(check(
                &huawei(data, sig, HuaweiAlgorithm::Sha256WithRsa),
                &app()
            )),
            Reason::Malformed
        );
    }
}
