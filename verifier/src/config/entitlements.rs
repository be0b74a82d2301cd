//! `[apps."ID".entitlements]`: the app's named entitlements and the products that grant them
//! (`premium = ["pro_monthly", "lifetime_pro"]`), and `[apps."ID"] transfer` (who keeps a
//! purchase presented by another account on a restore). Errors name the key.

use std::collections::BTreeMap;

use payseal_protocol::request::validate_product_id;

use super::{ConfigError, Resolver};
use crate::entitlements::{EntitlementRules, TransferPolicy};

/// The raw table: entitlement name → product ids.
pub(super) type RawEntitlements = BTreeMap<String, Vec<String>>;

/// Longest entitlement name, in bytes.
const MAX_NAME_BYTES: usize = 64;

impl Resolver {
    /// The entitlements of `app_id` (empty when the table is absent), with its transfer policy.
    pub(super) fn entitlements(
        &self,
        app_id: &str,
        raw: Option<&RawEntitlements>,
        transfer: Option<TransferPolicy>,
    ) -> Result<EntitlementRules, ConfigError> {
        let mut rules = EntitlementRules::new(transfer.unwrap_or_default());
        let Some(raw) = raw else {
            return Ok(rules);
        };
        for (name, products) in raw {
            let key = format!("apps.\"{app_id}\".entitlements.{name}");
            let name_ok = !name.is_empty()
                && name.len() <= MAX_NAME_BYTES
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !name_ok {
                return Err(self.invalid(
                    key,
                    "an entitlement name is 1 to 64 characters of A-Z, a-z, 0-9, '_', '-', '.'",
                ));
            }
            if products.is_empty() {
                return Err(self.invalid(key, "list at least one product id that grants it"));
            }
            for (i, product) in products.iter().enumerate() {
                if let Err(e) = validate_product_id(product) {
                    return Err(self.invalid(format!("{key}[{i}]"), e.as_str()));
                }
                if products[..i].contains(product) {
                    return Err(self.invalid(
                        format!("{key}[{i}]"),
                        format!("product {product:?} is listed twice"),
                    ));
                }
                rules.grant(product, name);
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(raw: &str) -> Result<EntitlementRules, ConfigError> {
        let raw: RawEntitlements = toml::from_str(raw).unwrap();
        Resolver::for_file(std::path::Path::new("/etc/payseal/verifier.toml")).entitlements(
            "com.x",
            Some(&raw),
            None,
        )
    }

    fn key_of(r: Result<EntitlementRules, ConfigError>) -> String {
        r.unwrap_err().key().unwrap().to_string()
    }

    #[test]
    fn products_map_to_every_entitlement_they_grant() {
        let rules = resolve(
            "premium = [\"pro_monthly\", \"lifetime_pro\"]\nno_ads = [\"remove_ads\", \"lifetime_pro\"]",
        )
        .unwrap();
        assert_eq!(rules.names_of("pro_monthly"), ["premium"]);
        assert_eq!(rules.names_of("lifetime_pro"), ["no_ads", "premium"]);
        assert!(rules.names_of("coins_100").is_empty());
        assert_eq!(rules.transfer(), TransferPolicy::Never);
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            key_of(resolve("premium = []")),
            "apps.\"com.x\".entitlements.premium"
        );
        assert_eq!(
            key_of(resolve("premium = [\"a\", \" \"]")),
            "apps.\"com.x\".entitlements.premium[1]"
        );
        assert_eq!(
            key_of(resolve("premium = [\"a\", \"a\"]")),
            "apps.\"com.x\".entitlements.premium[1]"
        );
        assert_eq!(
            key_of(resolve("\"pre mium\" = [\"a\"]")),
            "apps.\"com.x\".entitlements.pre mium"
        );
        let long = format!("premium = [\"{}\"]", "p".repeat(257));
        assert_eq!(
            key_of(resolve(&long)),
            "apps.\"com.x\".entitlements.premium[0]"
        );
    }
}
