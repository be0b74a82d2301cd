//! Entitlements: which named entitlements an account holds now, computed from its ledger rows
//! ([`active`], pure) with the app's product → entitlement map ([`EntitlementRules`], from
//! `[apps."ID".entitlements]`). Whether one row grants is the ledger's one rule,
//! [`crate::ledger::grants`]; this module only names what it grants.

use std::collections::HashMap;
use std::sync::Arc;

use payseal_protocol::entitlements::Entitlement;
use payseal_protocol::{Environment, PurchaseKind, Store};
use serde::Deserialize;

use crate::ledger::OwnedPurchase;

/// `[apps."ID"] transfer`: what happens when another account presents an owned purchase on a
/// restore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferPolicy {
    /// The first account keeps it; another gets `already_redeemed` (the default).
    #[default]
    Never,
    /// A non-consumable or subscription moves to the account that restores it (never a
    /// consumable, never a purchase bound to another account).
    ToLatest,
}

/// Whether a purchase of `kind` another account owns moves to the account restoring it under
/// `policy`: only with `to_latest`, and only a non-consumable or a subscription (a consumable,
/// or a purchase whose store does not say its kind, never moves). A purchase bound to an
/// account never reaches this: the binding refuses it first (`wrong_account`).
pub fn may_transfer(policy: TransferPolicy, kind: Option<PurchaseKind>) -> bool {
    policy == TransferPolicy::ToLatest
        && matches!(
            kind,
            Some(PurchaseKind::NonConsumable | PurchaseKind::Subscription)
        )
}

/// One app's entitlements: product id → the entitlement names it grants, and its transfer
/// policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntitlementRules {
    by_product: Arc<HashMap<String, Vec<String>>>,
    transfer: TransferPolicy,
}

impl EntitlementRules {
    /// No entitlements yet, with `transfer`.
    pub fn new(transfer: TransferPolicy) -> Self {
        Self {
            by_product: Arc::new(HashMap::new()),
            transfer,
        }
    }

    /// `product` grants `name` (names stay sorted and unique).
    pub fn grant(&mut self, product: &str, name: &str) {
        let names = Arc::make_mut(&mut self.by_product)
            .entry(product.to_string())
            .or_default();
        if let Err(at) = names.binary_search_by(|n| n.as_str().cmp(name)) {
            names.insert(at, name.to_string());
        }
    }

    /// The names `product` grants, sorted (empty: none).
    pub fn names_of(&self, product: &str) -> &[String] {
        self.by_product.get(product).map_or(&[], Vec::as_slice)
    }

    /// The transfer policy.
    pub fn transfer(&self) -> TransferPolicy {
        self.transfer
    }

    /// Whether no product grants any entitlement.
    pub fn is_empty(&self) -> bool {
        self.by_product.is_empty()
    }

    /// The product → names map, shared (what the ledger names an account's set with).
    pub fn product_names(&self) -> crate::ledger::entitlements::SharedProductNames {
        Arc::clone(&self.by_product)
    }
}

/// The active entitlements of an account whose rows are `rows`, at `now_ms`: one entry per
/// (entitlement, granting purchase), sorted by name, product and ledger key.
pub fn active(rules: &EntitlementRules, rows: &[OwnedPurchase], now_ms: i64) -> Vec<Entitlement> {
    let mut out = Vec::new();
    for row in rows {
        let names = rules.names_of(&row.product_id);
        if names.is_empty() || !crate::ledger::grants(row, now_ms) {
            continue;
        }
        let Some(store) = parse::<Store>(&row.store) else {
            continue;
        };
        for name in names {
            out.push(Entitlement {
                name: name.clone(),
                product_id: row.product_id.clone(),
                store,
                environment: row.environment.as_deref().and_then(parse::<Environment>),
                transaction_key: row.transaction_key.clone(),
                kind: row.kind.as_deref().and_then(parse::<PurchaseKind>),
                since: row.first_seen_ms,
                expires_at: row.expires_at_ms,
                will_renew: row.will_renew,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.name, &a.product_id, &a.transaction_key).cmp(&(
            &b.name,
            &b.product_id,
            &b.transaction_key,
        ))
    });
    out
}

/// A stored snake_case name back into its protocol enum.
fn parse<T: serde::de::DeserializeOwned>(stored: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(stored)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product: &str, kind: Option<&str>, expires: Option<i64>) -> OwnedPurchase {
        OwnedPurchase {
            store: "app_store".into(),
            transaction_key: format!("k-{product}"),
            product_id: product.into(),
            kind: kind.map(Into::into),
            environment: Some("sandbox".into()),
            first_seen_ms: 7,
            expires_at_ms: expires,
            revoked_at_ms: None,
            subscription_state: None,
            will_renew: None,
        }
    }

    #[test]
    fn only_non_consumables_and_subscriptions_move_and_only_to_latest() {
        use PurchaseKind::*;
        for kind in [Some(NonConsumable), Some(Subscription)] {
            assert!(may_transfer(TransferPolicy::ToLatest, kind));
            assert!(!may_transfer(TransferPolicy::Never, kind));
        }
        for kind in [Some(Consumable), None] {
            assert!(!may_transfer(TransferPolicy::ToLatest, kind));
        }
    }

    #[test]
    fn named_by_config_granted_by_the_ledger_rule() {
        let mut rules = EntitlementRules::new(TransferPolicy::Never);
        rules.grant("pro_monthly", "premium");
        rules.grant("lifetime", "premium");
        rules.grant("lifetime", "no_ads");
        rules.grant("gems", "premium"); // a consumable listed by mistake never grants
        let rows = [
            row("pro_monthly", Some("subscription"), Some(2_000)),
            row("lifetime", Some("non_consumable"), None),
            row("gems", Some("consumable"), None),
            row("unlisted", Some("non_consumable"), None),
        ];
        let at_1000: Vec<_> = active(&rules, &rows, 1_000)
            .into_iter()
            .map(|e| (e.name, e.product_id))
            .collect();
        assert_eq!(
            at_1000,
            [
                ("no_ads".to_string(), "lifetime".to_string()),
                ("premium".into(), "lifetime".into()),
                ("premium".into(), "pro_monthly".into()),
            ]
        );
        let later = active(&rules, &rows, 2_000);
        assert_eq!(later.len(), 2, "the subscription's period ended");
        let e = &later[0];
        assert_eq!(e.store, Store::AppStore);
        assert_eq!(e.environment, Some(Environment::Sandbox));
        assert_eq!(e.kind, Some(PurchaseKind::NonConsumable));
        assert_eq!((e.since, e.expires_at), (7, None));
    }
}
