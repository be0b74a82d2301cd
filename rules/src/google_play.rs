//! Google Play: SHA1withRSA (PKCS#1 v1.5) over the exact `Purchase.getOriginalJson()` bytes.
//!
//! **Subscriptions.** A subscription's purchase JSON carries `autoRenewing` (one-time products
//! do not): it is `kind: subscription`, keyed by its `purchaseToken` (the same for every renewal,
//! so the chain has one owner; renewals get new `orderId`s `GPA…..0`, `..1`, ...; the verdict
//! carries it as `original_transaction_id`). Play signs **no expiry** into it: the end of the paid period is only in the Play Developer API
//! (`purchases.subscriptionsv2`), which this verifier does not call. So a Play subscription
//! verdict has no `expires_at` and is never `expired`: it proves the purchase is genuine and
//! whose it is, not that it is still current (docs/src/subscriptions.md). A one-time product has
//! no `kind` (Play's JSON does not say consumable or not).

use payseal_protocol::{Environment, PurchaseKind, Reason, Store};
use serde::Deserialize;

use super::{
    decode_signature, signed_json, AppRules, Claimed, DataAndSignature, GooglePlayRules, Refusal,
    Rejection, StoreRule, TrustAnchors,
};

/// The Google Play rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GooglePlayRule;

/// The fields of Play's purchase JSON that the rule reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlayPurchase {
    order_id: Option<String>,
    package_name: String,
    product_id: Option<String>,
    product_ids: Option<Vec<String>>,
    purchase_time: i64,
    purchase_state: i64,
    purchase_token: String,
    quantity: Option<u32>,
    /// `0` for test purchases (license testers); absent for real money.
    purchase_type: Option<i64>,
    /// What the app set with `BillingFlowParams.Builder.setObfuscatedAccountId`.
    obfuscated_account_id: Option<String>,
    /// Present only in a subscription's JSON.
    auto_renewing: Option<bool>,
}

/// A Play purchase whose signature verified, its product and transaction id resolved.
#[derive(Debug)]
pub(crate) struct SignedPlayPurchase {
    package_name: String,
    product_id: String,
    /// `orderId`, else `purchaseToken`.
    transaction_id: String,
    purchase_time: i64,
    purchase_state: i64,
    quantity: Option<u32>,
    purchase_type: Option<i64>,
    obfuscated_account_id: Option<String>,
    /// `purchaseToken` when the JSON is a subscription's (`autoRenewing` present).
    subscription_token: Option<String>,
    /// `purchaseToken`.
    purchase_token: String,
}

/// The decoded signature and the exact purchase JSON it covers.
pub(crate) struct ParsedPlay<'r> {
    data: &'r str,
    signature: Vec<u8>,
}

impl StoreRule for GooglePlayRule {
    const STORE: Store = Store::GooglePlay;
    type Input<'r> = DataAndSignature<'r>;
    type Settings = GooglePlayRules;
    type Parsed<'r> = ParsedPlay<'r>;
    type Signed = SignedPlayPurchase;

    fn settings(app: &AppRules) -> Option<&GooglePlayRules> {
        app.google_play.as_ref()
    }

    fn parse<'r>(input: Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection> {
        Ok(ParsedPlay {
            data: input.data,
            signature: decode_signature(input.signature)?,
        })
    }

    fn verify_signature(
        parsed: ParsedPlay<'_>,
        rules: &GooglePlayRules,
        _anchors: &TrustAnchors,
        _now_ms: i64,
    ) -> Result<SignedPlayPurchase, Rejection> {
        if !rules.public_key.verifies(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            parsed.data.as_bytes(),
            &parsed.signature,
        ) {
            return Err(Rejection::new(
                Reason::BadSignature,
                "SHA1withRSA signature does not verify with the app's Play key",
            ));
        }
        let p: PlayPurchase = signed_json(parsed.data, "purchase JSON")?;
        let product_id = match (p.product_id, p.product_ids) {
            (Some(id), _) => id,
            (None, Some(ids)) if ids.len() == 1 => ids.into_iter().next().unwrap_or_default(),
            _ => {
                return Err(Rejection::new(
                    Reason::Malformed,
                    "signed purchase names no single productId",
                ))
            }
        };
        let subscription_token = p
            .auto_renewing
            .is_some()
            .then(|| p.purchase_token.clone())
            .filter(|t| !t.is_empty());
        let transaction_id = match p.order_id.filter(|id| !id.is_empty()) {
            Some(order_id) => order_id,
            None => p.purchase_token.clone(),
        };
        if transaction_id.is_empty() {
            return Err(Rejection::new(
                Reason::Malformed,
                "signed purchase has neither orderId nor purchaseToken",
            ));
        }
        Ok(SignedPlayPurchase {
            package_name: p.package_name,
            product_id,
            transaction_id,
            purchase_time: p.purchase_time,
            purchase_state: p.purchase_state,
            quantity: p.quantity,
            purchase_type: p.purchase_type,
            obfuscated_account_id: p.obfuscated_account_id,
            subscription_token,
            purchase_token: p.purchase_token,
        })
    }

    fn check_binding_and_state(
        p: &SignedPlayPurchase,
        rules: &GooglePlayRules,
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
        if p.purchase_state != 0 {
            let what = match p.purchase_state {
                1 => "cancelled",
                2 => "pending",
                _ => "not purchased",
            };
            return Err(Refusal::new(
                Reason::NotPurchased,
                format!("purchaseState {} ({what})", p.purchase_state),
            ));
        }
        Ok(())
    }

    fn extract(p: &SignedPlayPurchase) -> Claimed {
        Claimed {
            environment: if p.purchase_type == Some(0) {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            product_id: p.product_id.clone(),
            transaction_key: p
                .subscription_token
                .clone()
                .unwrap_or_else(|| p.transaction_id.clone()),
            transaction_id: p.transaction_id.clone(),
            // A subscription's chain: what the Play Developer API asks for its expiry.
            original_transaction_id: p.subscription_token.clone(),
            quantity: p.quantity,
            purchased_at: p.purchase_time,
            account_token: p.obfuscated_account_id.clone(),
            kind: p
                .subscription_token
                .as_ref()
                .map(|_| PurchaseKind::Subscription),
            // Play signs no expiry (module docs).
            expires_at: None,
            ended: None,
            purchase_token: Some(p.purchase_token.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{AppRules, Purchase, Rejection};
    use payseal_protocol::{Environment, Reason, Receipt, Store};
    use payseal_sandbox::PurchaseState;

    fn check(receipt: &Receipt, app: &AppRules) -> Result<Purchase, Rejection> {
        crate::check_receipt(receipt, app, &anchors(), 0)
    }

    fn play(purchase_data: String, signature: String) -> Receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        }
    }

    #[test]
    fn genuine_purchase_is_paid() {
        let mut o = order(Store::GooglePlay);
        o.quantity = 2;
        o.transaction_id = Some("GPA.1234-5678-9012-34567".into());
        let r = genuine().issue_at(&o, 1_700_000_000_123).unwrap();
        let p = check(&r, &app()).unwrap();
        assert_eq!(p.store, Store::GooglePlay);
        assert_eq!(p.environment, Environment::Sandbox);
        assert_eq!(p.product_id, "gems_100");
        assert_eq!(p.transaction_key, "GPA.1234-5678-9012-34567");
        assert_eq!(p.transaction_id, "GPA.1234-5678-9012-34567");
        assert_eq!(p.quantity, 2);
        assert_eq!(p.purchased_at, 1_700_000_000_123);
        let token = serde_json::from_str::<serde_json::Value>(&parts(&r).0).unwrap()
            ["purchaseToken"]
            .as_str()
            .map(str::to_owned);
        assert!(token.as_deref().is_some_and(|t| !t.is_empty()));
        assert_eq!(p.purchase_token, token, "the Play Developer API's key");
    }

    /// Regression (found by the `rule_google_play` fuzz target, whose oracle was too strict):
    /// whitespace around the Base64 text is trimmed, so the same genuine signature bytes pay,
    /// while the same padding cannot make altered bytes verify.
    #[test]
    fn whitespace_around_the_base64_signature_is_the_same_signature() {
        let r = genuine().issue(&order(Store::GooglePlay)).unwrap();
        let (data, sig) = parts(&r);
        let padded = play(data.clone(), format!(" {sig}\t\n"));
        assert!(check(&padded, &app()).is_ok());
        let altered = play(data.replace("gems_100", "gems_999"), format!("{sig}\t"));
        assert_eq!(
            check(&altered, &app()).unwrap_err().reason,
            Reason::BadSignature
        );
    }

    #[test]
    fn production_purchase_without_order_id_keys_on_the_token() {
        let mut o = order(Store::GooglePlay);
        o.environment = Environment::Production;
        let r = genuine().issue(&o).unwrap();
        let (data, _) = parts(&r);
        let mut v: serde_json::Value = serde_json::from_str(&data).unwrap();
        let token = v["purchaseToken"].as_str().unwrap().to_owned();
        v.as_object_mut().unwrap().remove("orderId");
        let data = v.to_string();
        let sig = genuine().sign_google_play(&data);
        let p = check(&play(data, sig), &app()).unwrap();
        assert_eq!(p.environment, Environment::Production);
        assert_eq!(p.transaction_key, token);
    }

    #[test]
    fn random_signature_is_bad_signature() {
        let (data, _) = parts(&genuine().issue(&order(Store::GooglePlay)).unwrap());
        assert_eq!(
            reason(check(&play(data.clone(), random_signature(256)), &app())),
            Reason::BadSignature
        );
        assert_eq!(
            reason(check(&play(data.clone(), "not base64!".into()), &app())),
            Reason::BadSignature
        );
        assert_eq!(
            reason(check(&play(data, String::new()), &app())),
            Reason::BadSignature
        );
    }

    #[test]
    fn genuine_signature_over_altered_json_is_bad_signature() {
        let (data, sig) = parts(&genuine().issue(&order(Store::GooglePlay)).unwrap());
        for altered in [
            data.replace("gems_100", "gems_999"),
            data.replace(APP, "com.example.other"),
            data.replace("\"purchaseState\":0", "\"purchaseState\":0 "),
            data.replace("\"quantity\":1", "\"quantity\":9"),
            format!("{data} "),
        ] {
            assert_ne!(altered, data);
            assert_eq!(
                reason(check(&play(altered, sig.clone()), &app())),
                Reason::BadSignature
            );
        }
        // A pending purchase's signature does not carry over to a purchased state.
        let mut o = order(Store::GooglePlay);
        o.state = PurchaseState::Pending;
        let (data, sig) = parts(&genuine().issue(&o).unwrap());
        let flipped = data.replace("\"purchaseState\":2", "\"purchaseState\":0");
        assert_ne!(flipped, data);
        assert_eq!(
            reason(check(&play(flipped, sig), &app())),
            Reason::BadSignature
        );
    }

    #[test]
    fn attackers_own_key_is_bad_signature() {
        let r = attacker().issue(&order(Store::GooglePlay)).unwrap();
        assert_eq!(reason(check(&r, &app())), Reason::BadSignature);
        // ... and it would pass with the attacker's key configured (the test can fail).
        let attackers_app = app_with(attacker(), &[Environment::Sandbox]);
        assert!(check(&r, &attackers_app).is_ok());
    }

    #[test]
    fn other_app_is_wrong_app() {
        let o = payseal_sandbox::Order::new(Store::GooglePlay, "com.example.other", "gems_100");
        let r = genuine().issue(&o).unwrap();
        let rej = check(&r, &app()).unwrap_err();
        assert_eq!(rej.reason, Reason::WrongApp);
        assert_eq!(rej.partial.product_id.as_deref(), Some("gems_100"));
    }

    #[test]
    fn pending_and_cancelled_are_not_purchased() {
        for state in [PurchaseState::Pending, PurchaseState::Cancelled] {
            let mut o = order(Store::GooglePlay);
            o.state = state;
            let r = genuine().issue(&o).unwrap();
            assert_eq!(reason(check(&r, &app())), Reason::NotPurchased, "{state:?}");
        }
    }

    #[test]
    fn test_purchase_to_production_only_app_is_untrusted_environment() {
        let r = genuine().issue(&order(Store::GooglePlay)).unwrap();
        let prod_only = app_with(genuine(), &[Environment::Production]);
        let rej = check(&r, &prod_only).unwrap_err();
        assert_eq!(rej.reason, Reason::UntrustedEnvironment);
        assert_eq!(rej.partial.environment, Some(Environment::Sandbox));
    }

    #[test]
    fn app_without_play_settings_is_unknown_app() {
        let r = genuine().issue(&order(Store::GooglePlay)).unwrap();
        let mut a = app();
        a.google_play = None;
        let rej = check(&r, &a).unwrap_err();
        assert_eq!(rej.reason, Reason::UnknownApp);
        assert!(rej.detail.contains("google_play"));
    }

    #[test]
    fn signed_garbage_is_malformed_and_unsigned_garbage_is_bad_signature() {
        let data = "{\"packageName\":\"com.example.game\"}".to_owned();
        let sig = genuine().sign_google_play(&data);
        assert_eq!(
            reason(check(&play(data.clone(), sig), &app())),
            Reason::Malformed
        );
        assert_eq!(
            reason(check(&play(data, random_signature(256)), &app())),
            Reason::BadSignature
        );
    }
}
