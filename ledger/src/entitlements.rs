//! Which entitlement names an account holds ([`held`], pure: the app's product → names map over
//! [`crate::grants`]), and the set last announced to the app's webhook, so that an
//! `entitlements.changed` row is enqueued only when the set of names actually changed
//! ([`diff`]). The announced set is one row per (app, account) in `payseal_entitlement_sets`,
//! read under a lock and written, with the webhook row, in the transaction of the change
//! ([`crate::Redemptions::refresh_entitlements`], and inside a store event's transaction when
//! its [`crate::notifications::TargetApp::entitlements`] is set).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::OwnedPurchase;

/// An app's product id → the entitlement names it grants (from `[apps."ID".entitlements]`).
pub type ProductNames = HashMap<String, Vec<String>>;

/// The map an app's changes are announced with (shared, never copied per call).
pub type SharedProductNames = Arc<ProductNames>;

/// The names the rows `rows` of one account grant at `now_ms`.
pub fn held(products: &ProductNames, rows: &[OwnedPurchase], now_ms: i64) -> BTreeSet<String> {
    rows.iter()
        .filter(|row| crate::grants(row, now_ms))
        .filter_map(|row| products.get(&row.product_id))
        .flatten()
        .cloned()
        .collect()
}

/// The stored form of a set of names (sorted, space-separated: names never hold a space).
pub fn stored(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A stored set back (`None`: never announced, the empty set).
pub fn parse(stored: Option<&str>) -> BTreeSet<String> {
    stored
        .unwrap_or_default()
        .split(' ')
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// What changed between the set last announced and the set held now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChange {
    /// Every name held now, sorted.
    pub now: Vec<String>,
    /// Held now, not before.
    pub added: Vec<String>,
    /// Held before, not now.
    pub removed: Vec<String>,
}

/// The change from `before` to `after`, `None` when the names are the same.
pub fn diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Option<SetChange> {
    (before != after).then(|| SetChange {
        now: after.iter().cloned().collect(),
        added: after.difference(before).cloned().collect(),
        removed: before.difference(after).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product: &str, kind: &str, expires: Option<i64>, revoked: Option<i64>) -> OwnedPurchase {
        OwnedPurchase {
            store: "sandbox".into(),
            transaction_key: format!("k-{product}"),
            product_id: product.into(),
            kind: Some(kind.into()),
            environment: None,
            first_seen_ms: 1,
            expires_at_ms: expires,
            revoked_at_ms: revoked,
            subscription_state: None,
            will_renew: None,
        }
    }

    #[test]
    fn held_names_follow_the_grant_rule_and_diff_only_reports_changes() {
        let mut products = ProductNames::new();
        products.insert("lifetime".into(), vec!["no_ads".into(), "premium".into()]);
        products.insert("monthly".into(), vec!["premium".into()]);
        products.insert("coins".into(), vec!["premium".into()]);
        let rows = [
            row("monthly", "subscription", Some(2_000), None),
            row("coins", "consumable", None, None),
            row("unlisted", "non_consumable", None, None),
        ];
        let at = |now, rows: &[OwnedPurchase]| held(&products, rows, now);
        assert_eq!(stored(&at(1_000, &rows)), "premium");
        assert!(
            at(2_000, &rows).is_empty(),
            "the period ended; coins never grant"
        );
        let mut with_lifetime = rows.to_vec();
        with_lifetime.push(row("lifetime", "non_consumable", None, None));
        assert_eq!(stored(&at(2_000, &with_lifetime)), "no_ads premium");
        with_lifetime[3].revoked_at_ms = Some(5);
        assert!(at(2_000, &with_lifetime).is_empty());

        let before = parse(Some("premium"));
        assert_eq!(diff(&before, &parse(Some("premium"))), None);
        assert_eq!(parse(None), parse(Some("")));
        let change = diff(&before, &parse(Some("no_ads"))).unwrap();
        assert_eq!(
            (change.now, change.added, change.removed),
            (
                vec!["no_ads".to_string()],
                vec!["no_ads".to_string()],
                vec!["premium".to_string()]
            )
        );
        assert_eq!(
            diff(&parse(None), &before).unwrap().added,
            ["premium".to_string()]
        );
    }
}
