//! Product and account binding: after the store's rule has paid a receipt, whether it is the
//! purchase *this request* is about. Pure, decided once here for every store, before anything
//! is recorded ([`check_expected`]):
//! 1. **account** (`wrong_account`): when the app's config sets an [`AccountBindingRules`]
//!    scheme and the store's signed data carries an account token (Play
//!    `obfuscatedAccountId`, App Store `appAccountToken`), the token must be the scheme's
//!    derivation of the request's account id. A Play or App Store receipt without a token
//!    passes unless the app sets `required = true` (purchases made before the app set tokens,
//!    and old app versions, carry none). Huawei and the sandbox store have no token field:
//!    their receipts are not bound, `required` or not ([`store_has_account_token`]).
//! 2. **product** (`wrong_product`): when the request names the product the app sold
//!    (`expected_product_id`), the store's `productId` must be exactly it.
//!
//! The account comes first: a receipt bound to another account is never this account's,
//! whatever product it asks for, whereas a `wrong_product` receipt may be presented again for
//! its own product. Neither consults the ledger: a receipt this account already redeemed and
//! now presents for another product is `wrong_product` too, and nothing changes.

use payseal_protocol::{AccountBinding, Reason, Store};

use super::{AppRules, PartialPurchase, Purchase, Rejection};

/// The app's account binding: the scheme its store tokens are derived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountBindingRules {
    /// How the app derives the token from the account id.
    pub scheme: AccountBinding,
    /// Whether a receipt without a token is refused (`wrong_account`); default false.
    pub required: bool,
}

/// Whether the store's signed purchase can carry an account token (Play
/// `obfuscatedAccountId`, App Store `appAccountToken`); Huawei and the sandbox store cannot.
pub fn store_has_account_token(store: Store) -> bool {
    match store {
        Store::GooglePlay | Store::AppStore => true,
        Store::Huawei | Store::Sandbox => false,
    }
}

/// What the request says the purchase must be.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    /// The request's account id.
    pub account_id: &'a str,
    /// The product the app sold, when the request names it.
    pub product_id: Option<&'a str>,
}

/// The account and product checks on a paid purchase (see the module docs for the order).
pub fn check_expected(
    purchase: &Purchase,
    app: &AppRules,
    expected: &Expectation<'_>,
) -> Result<(), Rejection> {
    let refuse = |reason: Reason, detail: String| {
        Err(Rejection::with_partial(
            reason,
            detail,
            PartialPurchase {
                environment: Some(purchase.environment),
                product_id: Some(purchase.product_id.clone()),
                transaction_id: Some(purchase.transaction_id.clone()),
                transaction_key: Some(purchase.transaction_key.clone()),
                kind: purchase.kind,
                expires_at: purchase.expires_at,
            },
        ))
    };
    if let Some(binding) = &app.account_binding {
        match purchase.account_token.as_deref() {
            Some(token) if !binding.scheme.matches(token, expected.account_id) => {
                return refuse(
                    Reason::WrongAccount,
                    format!(
                        "the store's account token is not the {} token of this account",
                        binding.scheme.as_str()
                    ),
                );
            }
            None if binding.required && store_has_account_token(purchase.store) => {
                return refuse(
                    Reason::WrongAccount,
                    format!(
                        "the purchase carries no account token and app {} requires one",
                        app.app_id
                    ),
                );
            }
            _ => {}
        }
    }
    if let Some(product) = expected.product_id {
        if purchase.product_id != product {
            return refuse(
                Reason::WrongProduct,
                format!(
                    "productId {} is not the expected {product}",
                    purchase.product_id
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use payseal_protocol::{Receipt, Store};
    use payseal_sandbox::Order;

    const NS: &str = "3f0b6a52-6c1e-4a8e-9d2b-0c7e5f4a1b29";

    fn bound(required: bool) -> AppRules {
        let mut app = app();
        app.account_binding = Some(AccountBindingRules {
            scheme: AccountBinding::uuid_v5(NS).unwrap(),
            required,
        });
        app
    }

    fn issue(store: Store, product: &str, token: Option<String>) -> Receipt {
        let mut order = Order::new(store, APP, product);
        order.account_token = token;
        genuine().issue(&order).unwrap()
    }

    fn decide(
        receipt: &Receipt,
        app: &AppRules,
        account: &str,
        product: Option<&str>,
    ) -> Result<Purchase, Rejection> {
        crate::check_request(
            receipt,
            app,
            &anchors(),
            payseal_sandbox::now_ms(),
            &Expectation {
                account_id: account,
                product_id: product,
            },
        )
    }

    #[test]
    fn the_store_token_is_read_from_the_signed_data() {
        let scheme = AccountBinding::uuid_v5(NS).unwrap();
        for store in [Store::GooglePlay, Store::AppStore] {
            let r = issue(store, "gems_100", Some(scheme.token("alice")));
            let p =
                crate::check_receipt(&r, &app(), &anchors(), payseal_sandbox::now_ms()).unwrap();
            assert_eq!(p.account_token, Some(scheme.token("alice")), "{store}");
            let r = issue(store, "gems_100", None);
            let p =
                crate::check_receipt(&r, &app(), &anchors(), payseal_sandbox::now_ms()).unwrap();
            assert_eq!(p.account_token, None, "{store}");
        }
    }

    #[test]
    fn another_accounts_token_is_wrong_account_on_both_stores() {
        let scheme = AccountBinding::uuid_v5(NS).unwrap();
        for store in [Store::GooglePlay, Store::AppStore] {
            let r = issue(store, "gems_100", Some(scheme.token("alice")));
            let p = decide(&r, &bound(false), "alice", None).unwrap();
            assert_eq!(p.product_id, "gems_100");
            let refused = decide(&r, &bound(false), "mallory", None).unwrap_err();
            assert_eq!(refused.reason, Reason::WrongAccount, "{store}");
            assert_eq!(refused.partial.product_id.as_deref(), Some("gems_100"));
            // Without a scheme configured, the token is not looked at.
            assert!(decide(&r, &app(), "mallory", None).is_ok());
        }
    }

    #[test]
    fn sha256_hex_binds_play_purchases() {
        let mut app = app();
        app.account_binding = Some(AccountBindingRules {
            scheme: AccountBinding::Sha256Hex,
            required: true,
        });
        let r = issue(
            Store::GooglePlay,
            "gems_100",
            Some(AccountBinding::Sha256Hex.token("alice")),
        );
        assert!(decide(&r, &app, "alice", None).is_ok());
        assert_eq!(reason(decide(&r, &app, "bob", None)), Reason::WrongAccount);
    }

    #[test]
    fn a_missing_token_passes_unless_required() {
        for store in [Store::GooglePlay, Store::AppStore] {
            let r = issue(store, "gems_100", None);
            assert!(decide(&r, &bound(false), "alice", None).is_ok(), "{store}");
            assert_eq!(
                reason(decide(&r, &bound(true), "alice", None)),
                Reason::WrongAccount,
                "{store}"
            );
        }
        // Stores without a token field are not bound, required or not.
        for store in [Store::Huawei, Store::Sandbox] {
            let r = issue(store, "gems_100", None);
            assert!(decide(&r, &bound(true), "alice", None).is_ok(), "{store}");
            assert!(!store_has_account_token(store));
        }
    }

    #[test]
    fn another_product_is_wrong_product_and_the_account_is_checked_first() {
        let scheme = AccountBinding::uuid_v5(NS).unwrap();
        let r = issue(Store::GooglePlay, "gems_100", Some(scheme.token("alice")));
        let refused = decide(&r, &bound(false), "alice", Some("gems_10000")).unwrap_err();
        assert_eq!(refused.reason, Reason::WrongProduct);
        assert_eq!(refused.partial.product_id.as_deref(), Some("gems_100"));
        assert!(decide(&r, &bound(false), "alice", Some("gems_100")).is_ok());
        // Product ids compare exactly.
        assert_eq!(
            reason(decide(&r, &bound(false), "alice", Some("GEMS_100"))),
            Reason::WrongProduct
        );
        assert_eq!(
            reason(decide(&r, &bound(false), "mallory", Some("gems_10000"))),
            Reason::WrongAccount
        );
    }

    #[test]
    fn a_refused_store_rule_comes_before_the_expectation() {
        let mut order = Order::new(Store::Huawei, APP, "gems_100");
        order.state = payseal_sandbox::PurchaseState::Cancelled;
        let r = genuine().issue(&order).unwrap();
        assert_eq!(
            reason(decide(&r, &bound(true), "alice", Some("other"))),
            Reason::NotPurchased
        );
    }
}
