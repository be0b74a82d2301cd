//! The PaySeal sandbox store: Ed25519 over the exact purchase JSON, accepted only by apps with
//! sandbox settings.
//!
//! Kinds: `kind` is `consumable` when absent. Subscriptions: `kind: "subscription"` with `expires_at` (Unix ms, required) and, for an
//! auto-renewable one, `original_transaction_id` (the renewal chain, its ledger key).

use ed25519_dalek::Signature;
use payseal_protocol::{Environment, PurchaseKind, Reason, Store};
use serde::Deserialize;

use super::{
    decode_signature, signed_json, AppRules, Claimed, DataAndSignature, Refusal, Rejection,
    SandboxRules, StoreRule, TrustAnchors,
};

/// The sandbox store rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SandboxRule;

/// The sandbox store's purchase JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SandboxPurchase {
    app_id: String,
    product_id: String,
    transaction_id: String,
    state: String,
    purchased_at: i64,
    quantity: Option<u32>,
    /// `consumable` (also when absent), `non_consumable` or `subscription`.
    #[serde(default)]
    kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period, Unix milliseconds.
    #[serde(default)]
    expires_at: Option<i64>,
    /// Auto-renewable subscriptions: the renewal chain's id.
    #[serde(default)]
    original_transaction_id: Option<String>,
}

/// The Ed25519 signature and the exact purchase JSON it covers.
pub(crate) struct ParsedSandbox<'r> {
    data: &'r str,
    signature: Signature,
}

impl StoreRule for SandboxRule {
    const STORE: Store = Store::Sandbox;
    type Input<'r> = DataAndSignature<'r>;
    type Settings = SandboxRules;
    type Parsed<'r> = ParsedSandbox<'r>;
    type Signed = SandboxPurchase;

    fn settings(app: &AppRules) -> Option<&SandboxRules> {
        app.sandbox.as_ref()
    }

    fn missing_settings(app: &AppRules) -> Rejection {
        Rejection::new(
            Reason::UntrustedEnvironment,
            format!(
                "app {} is not marked sandbox: it accepts no sandbox-store purchases",
                app.app_id
            ),
        )
    }

    fn parse<'r>(input: Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection> {
        let signature =
            Signature::from_slice(&decode_signature(input.signature)?).map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    "signature is not a 64-byte Ed25519 signature",
                )
            })?;
        Ok(ParsedSandbox {
            data: input.data,
            signature,
        })
    }

    fn verify_signature(
        parsed: ParsedSandbox<'_>,
        rules: &SandboxRules,
        _anchors: &TrustAnchors,
        _now_ms: i64,
    ) -> Result<SandboxPurchase, Rejection> {
        rules
            .public_key
            .verify_strict(parsed.data.as_bytes(), &parsed.signature)
            .map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    "Ed25519 signature does not verify with the sandbox store key",
                )
            })?;
        signed_json(parsed.data, "sandbox purchase")
    }

    fn check_binding_and_state(
        p: &SandboxPurchase,
        _rules: &SandboxRules,
        app: &AppRules,
    ) -> Result<(), Refusal> {
        if p.transaction_id.is_empty() {
            return Err(Refusal::new(Reason::Malformed, "empty transaction_id"));
        }
        if p.kind == Some(PurchaseKind::Subscription) && p.expires_at.is_none() {
            return Err(Refusal::new(
                Reason::Malformed,
                "subscription without expires_at",
            ));
        }
        if p.app_id != app.app_id {
            return Err(Refusal::new(
                Reason::WrongApp,
                format!("app_id {} is not {}", p.app_id, app.app_id),
            ));
        }
        match p.state.as_str() {
            "purchased" => Ok(()),
            "pending" | "cancelled" => Err(Refusal::new(
                Reason::NotPurchased,
                format!("state {}", p.state),
            )),
            "refunded" | "revoked" => {
                Err(Refusal::new(Reason::Revoked, format!("state {}", p.state)))
            }
            _ => Err(Refusal::new(Reason::Malformed, "unknown state")),
        }
    }

    fn extract(p: &SandboxPurchase) -> Claimed {
        Claimed {
            environment: Environment::Sandbox,
            product_id: p.product_id.clone(),
            transaction_key: p
                .original_transaction_id
                .clone()
                .filter(|id| !id.is_empty() && p.kind == Some(PurchaseKind::Subscription))
                .unwrap_or_else(|| p.transaction_id.clone()),
            transaction_id: p.transaction_id.clone(),
            original_transaction_id: p.original_transaction_id.clone(),
            quantity: p.quantity,
            purchased_at: p.purchased_at,
            account_token: None,
            kind: Some(p.kind.unwrap_or(PurchaseKind::Consumable)),
            expires_at: p
                .expires_at
                .filter(|_| p.kind == Some(PurchaseKind::Subscription)),
            ended: None,
            purchase_token: None,
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

    fn sbx(purchase_data: String, signature: String) -> Receipt {
        Receipt::Sandbox {
            purchase_data,
            signature,
        }
    }

    #[test]
    fn genuine_purchase_is_paid() {
        let mut o = order(Store::Sandbox);
        o.transaction_id = Some("tx-1".into());
        o.quantity = 5;
        let p = check(&genuine().issue_at(&o, 42).unwrap(), &app()).unwrap();
        assert_eq!(
            p,
            Purchase {
                store: Store::Sandbox,
                environment: Environment::Sandbox,
                product_id: "gems_100".into(),
                transaction_key: "tx-1".into(),
                transaction_id: "tx-1".into(),
                original_transaction_id: None,
                quantity: 5,
                purchased_at: 42,
                account_token: None,
                kind: Some(payseal_protocol::PurchaseKind::Consumable),
                expires_at: None,
                purchase_token: None,
            }
        );
    }

    #[test]
    fn forgeries_are_bad_signature() {
        let (data, sig) = parts(&genuine().issue(&order(Store::Sandbox)).unwrap());
        assert_eq!(
            reason(check(&sbx(data.clone(), random_signature(64)), &app())),
            Reason::BadSignature
        );
        assert_eq!(
            reason(check(&sbx(data.clone(), random_signature(63)), &app())),
            Reason::BadSignature
        );
        for altered in [
            data.replace("gems_100", "gems_999"),
            data.replace(APP, "com.example.other"),
            data.replace("purchased", "pending"),
        ] {
            assert_ne!(altered, data);
            assert_eq!(
                reason(check(&sbx(altered, sig.clone()), &app())),
                Reason::BadSignature
            );
        }
        let r = attacker().issue(&order(Store::Sandbox)).unwrap();
        assert_eq!(reason(check(&r, &app())), Reason::BadSignature);
        assert!(check(&r, &app_with(attacker(), &[Environment::Sandbox])).is_ok());
    }

    #[test]
    fn app_not_marked_sandbox_is_untrusted_environment() {
        let r = genuine().issue(&order(Store::Sandbox)).unwrap();
        let mut a = app();
        a.sandbox = None;
        assert_eq!(reason(check(&r, &a)), Reason::UntrustedEnvironment);
        let prod_only = app_with(genuine(), &[Environment::Production]);
        let rej = check(&r, &prod_only).unwrap_err();
        assert_eq!(rej.reason, Reason::UntrustedEnvironment);
        assert_eq!(rej.partial.environment, Some(Environment::Sandbox));
    }

    #[test]
    fn wrong_app_and_states() {
        let o = payseal_sandbox::Order::new(Store::Sandbox, "com.example.other", "gems_100");
        assert_eq!(
            reason(check(&genuine().issue(&o).unwrap(), &app())),
            Reason::WrongApp
        );
        for state in [PurchaseState::Pending, PurchaseState::Cancelled] {
            let mut o = order(Store::Sandbox);
            o.state = state;
            assert_eq!(
                reason(check(&genuine().issue(&o).unwrap(), &app())),
                Reason::NotPurchased
            );
        }
        let (data, _) = parts(&genuine().issue(&order(Store::Sandbox)).unwrap());
        let refunded = data.replace("\"purchased\"", "\"refunded\"");
        let sig = genuine().sign_sandbox(&refunded);
        assert_eq!(reason(check(&sbx(refunded, sig), &app())), Reason::Revoked);
        let odd = data.replace("\"purchased\"", "\"maybe\"");
        let sig = genuine().sign_sandbox(&odd);
        assert_eq!(reason(check(&sbx(odd, sig), &app())), Reason::Malformed);
    }
}
