//! `[apps."ID"]`: each app's stores (keys decoded), environments and account binding, into
//! the rules' `AppRules`; the app's `webhook` and store notification tables are read by
//! `webhooks` and `stores`.

use payseal_protocol::{AccountBinding, Environment};
use serde::Deserialize;

use super::stores::{RawHuaweiNotify, RawVoided};
use super::webhooks::RawWebhook;
use super::{b64, non_empty, ConfigError, Resolver, ValueError};
use crate::rules::{
    AccountBindingRules, AppRules, AppStoreRules, GooglePlayRules, HuaweiRules, RsaPublicKey,
    SandboxRules, TrustAnchors,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub(super) environments: Vec<Environment>,
    pub(super) google_play: Option<RawGooglePlayApp>,
    pub(super) app_store: Option<RawAppStore>,
    pub(super) huawei: Option<RawHuaweiApp>,
    pub(super) sandbox: Option<RawSandbox>,
    pub(super) webhook: Option<RawWebhook>,
    pub(super) account_binding: Option<RawAccountBinding>,
    pub(super) app_server: Option<super::app_server::RawAppServer>,
    pub(super) refund_policy: Option<super::refunds::RawRefundPolicy>,
    pub(super) refund_history: Option<super::refunds::RawRefundHistory>,
    pub(super) entitlements: Option<super::entitlements::RawEntitlements>,
    pub(super) transfer: Option<crate::entitlements::TransferPolicy>,
}

/// `[apps."ID".account_binding]`: how the app derives its store account tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccountBinding {
    pub(super) scheme: RawBindingScheme,
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGooglePlayApp {
    pub(super) package_name: String,
    pub(super) public_key: String,
    pub(super) voided_purchases: Option<RawVoided>,
    pub(super) api: Option<super::google_api::RawPlayApi>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHuaweiApp {
    pub(super) package_name: String,
    pub(super) public_key: String,
    pub(super) notifications: Option<RawHuaweiNotify>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppStore {
    pub(super) bundle_id: String,
    pub(super) server_api: Option<super::app_store_api::RawAppStoreApi>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    pub(super) public_key: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawBindingScheme {
    UuidV5,
    Sha256Hex,
}

/// The account binding scheme of `[apps."ID".account_binding]` (the failing key and why).
pub(super) fn binding_scheme(
    b: &RawAccountBinding,
    sells_on_app_store: bool,
) -> Result<AccountBinding, (&'static str, String)> {
    match (b.scheme, &b.namespace) {
        (RawBindingScheme::UuidV5, Some(ns)) => {
            AccountBinding::uuid_v5(ns).map_err(|e| ("namespace", e.to_string()))
        }
        (RawBindingScheme::UuidV5, None) => Err((
            "namespace",
            "uuid_v5 needs the app's namespace UUID (the one its apps derive tokens in)".into(),
        )),
        (RawBindingScheme::Sha256Hex, Some(_)) => Err((
            "namespace",
            "sha256_hex takes no namespace (it is the plain SHA-256 of the account id)".into(),
        )),
        (RawBindingScheme::Sha256Hex, None) if sells_on_app_store => Err((
            "scheme",
            "the App Store's appAccountToken is a UUID: use \"uuid_v5\" for an app that sells there"
                .into(),
        )),
        (RawBindingScheme::Sha256Hex, None) => Ok(AccountBinding::Sha256Hex),
    }
}

/// Decode a Base64 X.509 SubjectPublicKeyInfo holding an RSA key (the Play Console / AppGallery
/// form), once, into the form the rules verify with.
pub fn rsa_spki(s: &str) -> Result<RsaPublicKey, ValueError> {
    Ok(RsaPublicKey::from_spki_der(&b64(s)?)?)
}

/// Decode a Base64 raw 32-byte Ed25519 public key (the sandbox store's form).
pub fn ed25519_raw(s: &str) -> Result<ed25519_dalek::VerifyingKey, ValueError> {
    let raw = b64(s)?;
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ValueError::Ed25519Length(raw.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ValueError::Ed25519Key)
}

impl Resolver {
    pub(super) fn app(
        &self,
        app_id: &str,
        app: &RawApp,
        anchors: &TrustAnchors,
    ) -> Result<AppRules, ConfigError> {
        let k = |sub: &str| format!("apps.\"{app_id}\".{sub}");
        if app_id.trim().is_empty() {
            return Err(self.invalid("apps", "an app id must not be empty"));
        }
        if app.environments.is_empty() {
            return Err(self.invalid(
                k("environments"),
                "list at least one of \"production\", \"sandbox\"",
            ));
        }
        if app.google_play.is_none()
            && app.app_store.is_none()
            && app.huawei.is_none()
            && app.sandbox.is_none()
        {
            return Err(self.invalid(
                format!("apps.\"{app_id}\""),
                "configure at least one store (google_play, app_store, huawei, sandbox)",
            ));
        }
        let google_play = match &app.google_play {
            None => None,
            Some(g) => Some(GooglePlayRules {
                package_name: non_empty(&g.package_name)
                    .map_err(|r| self.invalid(k("google_play.package_name"), r))?,
                public_key: rsa_spki(&g.public_key)
                    .map_err(|r| self.invalid(k("google_play.public_key"), r))?,
            }),
        };
        let app_store = match &app.app_store {
            None => None,
            Some(a) => {
                if anchors.apple_roots().is_empty() && anchors.apple_receipt_roots().is_empty() {
                    return Err(self.invalid(
                        k("app_store"),
                        "App Store receipts need at least one [[trust.apple_roots]] (StoreKit 2) \
                         or [[trust.apple_receipt_roots]] (app receipts) entry",
                    ));
                }
                Some(AppStoreRules {
                    bundle_id: non_empty(&a.bundle_id)
                        .map_err(|r| self.invalid(k("app_store.bundle_id"), r))?,
                })
            }
        };
        let huawei = match &app.huawei {
            None => None,
            Some(h) => Some(HuaweiRules {
                package_name: non_empty(&h.package_name)
                    .map_err(|r| self.invalid(k("huawei.package_name"), r))?,
                public_key: rsa_spki(&h.public_key)
                    .map_err(|r| self.invalid(k("huawei.public_key"), r))?,
            }),
        };
        let sandbox = match &app.sandbox {
            None => None,
            Some(s) => {
                if !app.environments.contains(&Environment::Sandbox) {
                    return Err(self.invalid(
                        k("sandbox"),
                        "the sandbox store is only accepted by apps whose environments include \"sandbox\"",
                    ));
                }
                Some(SandboxRules {
                    public_key: ed25519_raw(&s.public_key)
                        .map_err(|r| self.invalid(k("sandbox.public_key"), r))?,
                })
            }
        };
        let account_binding = match &app.account_binding {
            None => None,
            Some(b) => Some(AccountBindingRules {
                scheme: binding_scheme(b, app_store.is_some())
                    .map_err(|(key, r)| self.invalid(k(&format!("account_binding.{key}")), r))?,
                required: b.required,
            }),
        };
        Ok(AppRules {
            app_id: app_id.to_string(),
            environments: app.environments.clone(),
            google_play,
            app_store,
            huawei,
            sandbox,
            account_binding,
        })
    }
}
