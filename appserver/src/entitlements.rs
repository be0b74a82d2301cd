//! An account's entitlements on the application server: the signed document checked with the
//! verifier's keys ([`check_entitlements`]: `payseal_protocol::entitlements::verify`, the
//! verdict's one JWS path, with this server's clock for `exp`/`iat`), then the app, the account
//! and (when this server asked) the nonce; and its fetch with the app-server credential
//! ([`VerifierApi::entitlements`]).

use payseal_protocol::entitlements::{
    self, AppServerEntitlements, Entitlement, APP_SERVER_ENTITLEMENTS_PATH,
};
use payseal_protocol::verdict::{VerdictError, VerdictVerifier};

use crate::reports::{ReportError, VerifierApi};

/// A checked entitlements document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    /// The app.
    pub app: String,
    /// The account.
    pub account: String,
    /// When the verifier read its ledger, Unix milliseconds.
    pub as_of_ms: i64,
    /// The active entitlements (one per entitlement and granting purchase).
    pub items: Vec<Entitlement>,
    /// The token, as signed.
    pub token: String,
}

impl Entitlements {
    /// Whether the entitlement `name` is active.
    pub fn has(&self, name: &str) -> bool {
        self.items.iter().any(|e| e.name == name)
    }
}

/// Why an entitlements document was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntitlementsError {
    /// Bad signature, unknown key, wrong `alg`/`typ`, expired, malformed.
    #[error("entitlements token refused: {0}")]
    Token(#[from] VerdictError),
    /// Issued for another app.
    #[error("entitlements document is for another app")]
    WrongApp,
    /// Issued for another account.
    #[error("entitlements document is for another account")]
    WrongAccount,
    /// Not the answer to this server's request (another nonce: replayed or relayed).
    #[error("entitlements document answers another request (nonce)")]
    Nonce,
    /// The verifier could not be asked (transport, credential, status).
    #[error(transparent)]
    Fetch(#[from] ReportError),
    /// The answer is not the documented JSON.
    #[error("the verifier's answer is not an entitlements answer")]
    Body,
    /// No randomness for the nonce.
    #[error("random generator failed")]
    Random,
}

/// Check `token` with `keys` at `now` (Unix seconds, this server's clock) for `app` and
/// `account`; with `nonce`, it must answer that request.
pub fn check_entitlements(
    keys: &VerdictVerifier,
    token: &str,
    app: &str,
    account: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<Entitlements, EntitlementsError> {
    let claims = entitlements::verify(keys, token, now)?;
    if claims.app != app {
        return Err(EntitlementsError::WrongApp);
    }
    if claims.sub != account {
        return Err(EntitlementsError::WrongAccount);
    }
    if nonce.is_some_and(|n| n != claims.nonce) {
        return Err(EntitlementsError::Nonce);
    }
    Ok(Entitlements {
        app: claims.app,
        account: claims.sub,
        as_of_ms: claims.as_of,
        items: claims.entitlements,
        token: token.to_string(),
    })
}

/// A fresh nonce: 24 random bytes as hex (hex digits are base64url characters, so this is a
/// valid 36-byte base64url nonce).
fn fresh_nonce() -> Result<String, EntitlementsError> {
    let mut bytes = [0u8; 24];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| EntitlementsError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl VerifierApi {
    /// What `account` of this credential's app owns now: `GET /v1/app-server/entitlements`
    /// with a fresh nonce, the answer checked with `keys` (the verifier's verdict keys, e.g.
    /// from its `GET /v1/keys`) at `now`.
    pub async fn entitlements(
        &self,
        account: &str,
        keys: &VerdictVerifier,
        now: i64,
    ) -> Result<Entitlements, EntitlementsError> {
        let nonce = fresh_nonce()?;
        let mut url = self
            .base
            .join(APP_SERVER_ENTITLEMENTS_PATH)
            .map_err(|_| ReportError::Url(self.base.to_string()))?;
        url.query_pairs_mut()
            .append_pair("account", account)
            .append_pair("nonce", &nonce);
        let response = self
            .credential
            .authorize(self.http.get(url))
            .send()
            .await
            .map_err(|e| ReportError::Transport(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(ReportError::Unauthorized.into()),
            status => return Err(ReportError::Status(status).into()),
        }
        let answer: AppServerEntitlements =
            response.json().await.map_err(|_| EntitlementsError::Body)?;
        check_entitlements(
            keys,
            &answer.entitlements,
            self.credential.app_id(),
            account,
            Some(&nonce),
            now,
        )
    }
}
