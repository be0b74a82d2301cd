//! The decision: open the envelope → parse the request → look up the app → run the store's rule
//! → record the redemption → sign the verdict → seal the response.
//!
//! Pure but for the ledger call; the HTTP layer (`server`) maps [`ServiceError`] to status codes.
//!
//! Webhooks: for an app with a webhook, a `paid / first` redemption is recorded together with its
//! `purchase.paid` outbox row ([`crate::ledger::Redemptions::redeem_and_notify`]). Revocation: when
//! a store's signed data says a redeemed transaction was refunded or revoked (an App Store
//! `revocationDate`, Huawei `purchaseState` 2, sandbox `refunded`), the redemption is marked
//! revoked ([`revoke`]) and a `purchase.revoked` event is enqueued in the same transaction; from
//! then on the transaction is `not_paid / revoked` for everyone, the owner included. A revoked
//! transaction that was never redeemed records nothing.
//!
//! Product and account binding ([`rules::binding`]): a paid receipt whose store account token
//! is another account's (`wrong_account`), or whose product is not the request's
//! `expected_product_id` (`wrong_product`), is refused before the ledger is touched: no
//! redemption, no webhook, and the receipt still works for its own account and product. The
//! ledger is not read either, so a receipt this account already redeemed and now presents for
//! another product is `wrong_product` too (never `repeat`), and nothing changes.
//! transaction that was never redeemed records nothing. A revoked subscription transaction
//! revokes its renewal chain's row (its ledger key).
//!
//! Protocol versions: a request of any supported version (`payseal_protocol::is_supported_version`,
//! v1 and v2) is decided the same way; the verdict is signed as
//! `VerdictClaims::for_protocol(request.v)` and the response carries the request's `v`, so an SDK
//! already shipped (v1) never gets a claim or reason it would refuse. Metrics and webhooks see
//! the decision undowngraded.
//!
//! Subscriptions: the store rule decides expiry (`not_paid / expired`, nothing recorded); a
//! current one is redeemed under its chain's key with its period end, and the verdict carries
//! `kind` and `expires_at` (the presented transaction's period end, Unix ms).

use std::sync::Arc;

use payseal_protocol::entitlements::{
    EntitlementsClaims, EntitlementsRequest, EntitlementsResponse,
};
use payseal_protocol::envelope::{self, EnvelopeError};
use payseal_protocol::verdict::VerdictError;
use payseal_protocol::{
    Outcome, Reason, Receipt, Redemption, Store, VerdictClaims, VerifyRequest, VerifyResponse,
    PROTOCOL_VERSION,
};
use serde::Serialize;

use crate::app_store_api::status::{decide_status, stored_chain};
use crate::app_store_api::AppStoreApi;
use crate::entitlements::{self, EntitlementRules};
use crate::google_api::live::{decide_product, decide_subscription, LiveAnswer};
use crate::google_api::PlayApi;
use crate::ledger::notifications::NotificationResult;
use crate::ledger::notifications::SubscriptionAnswer;
use crate::ledger::{
    Ledger, LedgerError, RedeemOutcome, RedemptionRequest, TransferOutcome, TransferRequest,
};
use crate::rules::{
    self, AppRules, Expectation, PartialPurchase, Purchase, Rejection, TrustAnchors,
};
use crate::settings::{OfflineSettings, OnStoreUnavailable, Settings};

/// Why a request got no sealed verdict.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The live check could not ask the store and the app says `on_store_unavailable =
    /// "retry"`: nothing was recorded; the client retries after `retry_after_s`.
    #[error("store unavailable for the live check: {detail}")]
    StoreUnavailable {
        /// Seconds to wait.
        retry_after_s: u32,
        /// Why (no token, no URL).
        detail: String,
    },
    /// The body is not an envelope this verifier can open (never more detail towards the peer).
    #[error("envelope: {0}")]
    Envelope(EnvelopeError),
    /// The envelope opened but its plaintext is not an acceptable request.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The ledger could not record or read the redemption; nothing was decided.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The verdict could not be signed.
    #[error("verdict signing failed: {0}")]
    Sign(VerdictError),
    /// The response could not be sealed.
    #[error("response sealing failed: {0}")]
    Seal(EnvelopeError),
    /// The webhook event could not be built (nothing was recorded).
    #[error(transparent)]
    Webhook(#[from] crate::webhook::EventError),
}

/// A sealed answer and what it says (for metrics and logs; never receipt content).
#[derive(Debug, Clone)]
pub struct Decision {
    /// The sealed [`VerifyResponse`] to send back.
    pub sealed: Vec<u8>,
    /// Paid or not.
    pub outcome: Outcome,
    /// Why not paid.
    pub reason: Option<Reason>,
    /// First or repeat, when paid.
    pub redemption: Option<Redemption>,
}

/// A sealed entitlements answer and how many entitlements it holds (for logs; never their
/// content).
#[derive(Debug, Clone)]
pub struct EntitlementsAnswer {
    /// The sealed [`EntitlementsResponse`] to send back.
    pub sealed: Vec<u8>,
    /// Number of active entitlement entries.
    pub count: usize,
}

/// The verification service: settings plus a ledger.
#[derive(Debug, Clone)]
pub struct Verifier {
    settings: Arc<Settings>,
    ledger: Arc<dyn Ledger>,
    /// The Play Developer API clients by app id (the live check).
    play_apis: Arc<std::collections::HashMap<String, Arc<PlayApi>>>,
    /// The App Store Server API clients by app id (a subscription's first redemption).
    app_store_apis: Arc<std::collections::HashMap<String, Arc<AppStoreApi>>>,
}

/// The current time in Unix milliseconds (the one clock: [`payseal_protocol::time`]).
pub use payseal_protocol::time::now_ms;

impl Verifier {
    /// A service over `settings` recording into `ledger`.
    pub fn new(settings: Arc<Settings>, ledger: Arc<dyn Ledger>) -> Self {
        Self {
            settings,
            ledger,
            play_apis: Arc::default(),
            app_store_apis: Arc::default(),
        }
    }

    /// The same service asking Apple (Get All Subscription Statuses) with these App Store
    /// Server API clients (by app id) at a subscription's first redemption.
    pub fn with_app_store_apis(
        mut self,
        apis: Arc<std::collections::HashMap<String, Arc<AppStoreApi>>>,
    ) -> Self {
        self.app_store_apis = apis;
        self
    }

    /// The Play Developer API clients by app id.
    pub fn play_apis(&self) -> &std::collections::HashMap<String, Arc<PlayApi>> {
        &self.play_apis
    }

    /// The same service asking Google with these Play Developer API clients (by app id) for
    /// the apps whose `live_check` is on.
    pub fn with_play_apis(
        mut self,
        apis: Arc<std::collections::HashMap<String, Arc<PlayApi>>>,
    ) -> Self {
        self.play_apis = apis;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Decide on one sealed request body now.
    pub async fn verify(&self, body: &[u8]) -> Result<Decision, ServiceError> {
        self.verify_at(body, now_ms()).await
    }

    /// Decide on one sealed request body at `now_ms` (Unix milliseconds).
    pub async fn verify_at(&self, body: &[u8], now_ms: i64) -> Result<Decision, ServiceError> {
        let (plain, reply) = envelope::open_request(&self.settings.hpke_keys, body)
            .map_err(ServiceError::Envelope)?;
        let plain = zeroize::Zeroizing::new(plain);
        let request: VerifyRequest = serde_json::from_slice(&plain)
            .map_err(|_| ServiceError::BadRequest("not a PaySeal verify request"))?;
        validate_request(&request)?;

        let decided = self.decide(&request, now_ms, false).await?;
        // The one place a verdict is built for the wire: in the request's protocol version (a
        // v1 SDK's parser refuses the v2 claims and reasons). Metrics keep the full reason.
        let (outcome, reason, redemption) = (decided.outcome, decided.reason, decided.redemption);
        let claims = decided.for_protocol(request.v);
        let signer = self.signer()?;
        let token = signer.sign(&claims).map_err(ServiceError::Sign)?;
        let response = VerifyResponse {
            v: request.v,
            verdict: token,
        };
        let json = serde_json::to_vec(&response)
            .map_err(|_| ServiceError::Seal(EnvelopeError::Malformed))?;
        let sealed = reply.seal_response(&json).map_err(ServiceError::Seal)?;
        Ok(Decision {
            sealed,
            outcome,
            reason,
            redemption,
        })
    }

    /// Answer one sealed `POST /v1/entitlements` body now.
    pub async fn entitlements(&self, body: &[u8]) -> Result<EntitlementsAnswer, ServiceError> {
        self.entitlements_at(body, now_ms()).await
    }

    /// Answer one sealed `POST /v1/entitlements` body at `now_ms`: judge a restore's receipts
    /// one by one exactly as [`Verifier::verify_at`] does (same rule, same ledger step, same
    /// nonce), then read the account's entitlements and sign them.
    pub async fn entitlements_at(
        &self,
        body: &[u8],
        now_ms: i64,
    ) -> Result<EntitlementsAnswer, ServiceError> {
        let (plain, reply) = envelope::open_request(&self.settings.hpke_keys, body)
            .map_err(ServiceError::Envelope)?;
        let plain = zeroize::Zeroizing::new(plain);
        let request: EntitlementsRequest = serde_json::from_slice(&plain)
            .map_err(|_| ServiceError::BadRequest("not a PaySeal entitlements request"))?;
        request
            .validate()
            .map_err(|e| ServiceError::BadRequest(e.as_str()))?;
        if !self.settings.apps.contains_key(&request.app_id) {
            return Err(ServiceError::BadRequest("unknown app"));
        }
        let signer = self.signer()?;
        let mut verdicts = Vec::with_capacity(request.restore.len());
        for receipt in &request.restore {
            let one = VerifyRequest {
                v: request.v,
                nonce: request.nonce.clone(),
                app_id: request.app_id.clone(),
                account_id: request.account_id.clone(),
                receipt: receipt.clone(),
                sdk: request.sdk.clone(),
                expected_product_id: None,
            };
            let claims = self.decide(&one, now_ms, true).await?.for_protocol(one.v);
            verdicts.push(signer.sign(&claims).map_err(ServiceError::Sign)?);
        }
        let claims = self
            .entitlement_claims(&request.app_id, &request.account_id, &request.nonce, now_ms)
            .await?;
        let count = claims.entitlements.len();
        let response = EntitlementsResponse {
            v: PROTOCOL_VERSION,
            entitlements: payseal_protocol::entitlements::sign(signer, &claims)
                .map_err(ServiceError::Sign)?,
            verdicts,
        };
        let json = serde_json::to_vec(&response)
            .map_err(|_| ServiceError::Seal(EnvelopeError::Malformed))?;
        let sealed = reply.seal_response(&json).map_err(ServiceError::Seal)?;
        Ok(EntitlementsAnswer { sealed, count })
    }

    /// The signed entitlements document of `account_id` in `app_id`, bound to `nonce` (also
    /// what the app server's `GET` answers).
    pub async fn entitlements_document(
        &self,
        app_id: &str,
        account_id: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<String, ServiceError> {
        let claims = self
            .entitlement_claims(app_id, account_id, nonce, now_ms)
            .await?;
        payseal_protocol::entitlements::sign(self.signer()?, &claims).map_err(ServiceError::Sign)
    }

    /// The entitlements claims of an account: one ledger read, then [`entitlements::active`].
    async fn entitlement_claims(
        &self,
        app_id: &str,
        account_id: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<EntitlementsClaims, ServiceError> {
        let rows = self.ledger.owned(app_id, account_id).await?;
        let active = match self.settings.entitlements.get(app_id) {
            Some(rules) => entitlements::active(rules, &rows, now_ms),
            None => Vec::new(),
        };
        // A subscription period that ended with no store event changes the set only now.
        self.announce(app_id, account_id, now_ms, "read").await;
        let iat = now_ms.div_euclid(1000);
        let ttl = i64::try_from(self.settings.verdict_ttl.as_secs()).unwrap_or(600);
        Ok(EntitlementsClaims {
            iss: self.settings.public_url.clone(),
            iat,
            exp: iat.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
            nonce: nonce.to_string(),
            app: app_id.to_string(),
            sub: account_id.to_string(),
            as_of: now_ms,
            entitlements: active,
        })
    }

    /// Compare `account_id`'s entitlement names with the set last announced, and enqueue
    /// `entitlements.changed` when they differ (apps that name entitlements and have a webhook
    /// only; [`Settings::announced_entitlements`]). Its own transaction, after the change committed: when
    /// it fails, the account's next change or entitlements read announces the change.
    async fn announce(&self, app_id: &str, account_id: &str, now_ms: i64, cause: &str) {
        let Some(products) = self.settings.announced_entitlements(app_id) else {
            return;
        };
        if let Err(e) = self
            .ledger
            .refresh_entitlements(app_id, account_id, products, now_ms, cause)
            .await
        {
            tracing::warn!(app = app_id, cause, error = %e,
                "entitlements.changed not checked now; the account's next change or read will");
        }
    }

    /// The current verdict signing key.
    fn signer(&self) -> Result<&payseal_protocol::verdict::VerdictSigningKey, ServiceError> {
        self.settings
            .verdict_keys
            .first()
            .ok_or(ServiceError::Sign(VerdictError::InvalidKey(
                "no verdict key".into(),
            )))
    }

    /// The verdict claims for a parsed, validated request (records paid redemptions).
    /// `restore`: the request is one receipt of a restore, after which the app's transfer
    /// policy may move a purchase another account owns ([`Verifier::transfer`]).
    async fn decide(
        &self,
        request: &VerifyRequest,
        now_ms: i64,
        restore: bool,
    ) -> Result<VerdictClaims, ServiceError> {
        let mut claims = self.base_claims(request, now_ms);
        let Some(app) = self.settings.apps.get(&request.app_id) else {
            return Ok(not_paid(claims, Reason::UnknownApp, None));
        };
        let expected = Expectation {
            account_id: &request.account_id,
            product_id: request.expected_product_id.as_deref(),
        };
        let checked = rules::check_request(
            &request.receipt,
            app,
            &self.settings.anchors,
            now_ms,
            &expected,
        );
        // An App Store subscription whose signed period ended may still be in its billing
        // grace period: Apple's signed state decides (`app_store_chain`), else `expired`.
        let (purchase, lapsed) = match checked {
            Ok(p) => (p, None),
            Err(rejection) => match lapsed_app_store_chain(&rejection, app, &expected) {
                Some(p) => (p, Some(rejection)),
                None => return self.refused(request, claims, rejection, now_ms).await,
            },
        };
        fill_purchase(&mut claims, &purchase);
        let mut purchase = purchase;
        let mut first_state: Option<SubscriptionAnswer> = None;
        if purchase.store == Store::AppStore
            && purchase.kind == Some(payseal_protocol::PurchaseKind::Subscription)
        {
            let (refusal, stored) = self
                .app_store_chain(
                    request,
                    &mut purchase,
                    &mut claims,
                    lapsed.is_some(),
                    now_ms,
                )
                .await?;
            if let Some(reason) = refusal {
                let partial = lapsed.as_ref().map(|r| &*r.partial);
                return Ok(not_paid(claims, reason, partial));
            }
            first_state = stored;
        }
        self.redeem(request, purchase, claims, restore, first_state, now_ms)
            .await
    }

    /// A receipt the store rule refused: a store-signed revocation of a redeemed transaction
    /// is recorded; the verdict is `not_paid` with what was read.
    async fn refused(
        &self,
        request: &VerifyRequest,
        claims: VerdictClaims,
        rejection: Rejection,
        now_ms: i64,
    ) -> Result<VerdictClaims, ServiceError> {
        // The store's signed data says it was refunded or revoked: if it was redeemed,
        // record that (the ledger key read from the signed data: `transactionId`,
        // Huawei's `orderId`, the sandbox `transaction_id`, or a subscription's chain).
        let store = request.receipt.store();
        if let (Reason::Revoked, Some(why)) = (rejection.reason, store_revocation(store)) {
            if let Some(event) = crate::notifications::signed_revocation(
                store,
                &request.app_id,
                &claims.receipt_sha256,
                &rejection.partial,
                why,
                now_ms,
            ) {
                let recorded = crate::notifications::record(
                    &self.settings,
                    self.ledger.as_ref(),
                    &event,
                    now_ms,
                )
                .await?;
                if recorded.result == NotificationResult::Revoked && !recorded.duplicate {
                    tracing::info!(app = %request.app_id, store = store.as_str(),
                        "redeemed transaction revoked by the store");
                }
            }
        }
        Ok(not_paid(
            claims,
            rejection.reason,
            Some(&*rejection.partial),
        ))
    }

    /// The ledger step of a receipt its rule (and any store check) found paid: the stored
    /// state of a Play chain, the Play live check, then the redemption (and its webhook,
    /// acknowledgement); `first_state`: Apple's answer at this first presentation, stored
    /// with the chain once it is redeemed.
    async fn redeem(
        &self,
        request: &VerifyRequest,
        mut purchase: Purchase,
        mut claims: VerdictClaims,
        restore: bool,
        first_state: Option<SubscriptionAnswer>,
        now_ms: i64,
    ) -> Result<VerdictClaims, ServiceError> {
        if let Some(reason) = self
            .stored_subscription(request, &purchase, &mut claims, now_ms)
            .await?
        {
            return Ok(not_paid(claims, reason, None));
        }
        if let Some(api) = self
            .play_apis
            .get(&request.app_id)
            .filter(|a| a.settings().live_check && purchase.store == Store::GooglePlay)
        {
            if let Some(reason) = self
                .live_check(api, request, &mut purchase, &mut claims, now_ms)
                .await?
            {
                return Ok(not_paid(claims, reason, None));
            }
        }
        // The account's refund history: in the verdict when the app asks (a ledger read on
        // every verification of that app); the `purchase.paid` webhook gets it from the
        // delivery worker, off this path. The optional threshold refuses new first
        // redemptions.
        let history_policy = self.settings.refund_history.get(&request.app_id);
        let has_webhook = self.settings.webhooks.contains_key(&request.app_id);
        if history_policy.is_some_and(|h| h.in_verdict) {
            claims.refund_history = Some(
                self.ledger
                    .account_refund_history(&request.app_id, &request.account_id, now_ms)
                    .await?,
            );
        }
        if let Some(limit) = history_policy.and_then(|h| h.limit) {
            if self
                .refund_limit_refuses(request, &purchase, limit, now_ms)
                .await?
            {
                return Ok(not_paid(claims, Reason::RefundLimit, None));
            }
        }
        let delivery = if has_webhook {
            let data = paid(claims.clone(), Redemption::First);
            Some(crate::webhook::paid_event(&data, now_ms)?)
        } else {
            None
        };
        let redemption = RedemptionRequest {
            store: purchase.store,
            app_id: request.app_id.clone(),
            transaction_key: purchase.transaction_key.clone(),
            account_id: request.account_id.clone(),
            product_id: purchase.product_id.clone(),
            receipt_sha256: claims.receipt_sha256.clone(),
            verdict_id: claims.jti.clone(),
            now_ms,
            expires_at_ms: purchase.expires_at,
            kind: purchase.kind,
            environment: Some(purchase.environment),
        };
        // A Play purchase of an app with the Play Developer API: acknowledged (or consumed)
        // after the commit, queued in the redemption's transaction.
        let ack = self
            .settings
            .google_play_api
            .get(&request.app_id)
            .and_then(|api| crate::google_api::acknowledge::ack_for(api, &purchase, &claims.jti));
        let outcome = match ack {
            Some(ack) => {
                self.ledger
                    .redeem_and_acknowledge(redemption, delivery, ack)
                    .await?
            }
            None => self.ledger.redeem_and_notify(redemption, delivery).await?,
        };
        if let (RedeemOutcome::First, Some(answer)) = (outcome, first_state) {
            self.store_first_state(&request.app_id, &purchase, &claims.jti, answer)
                .await?;
        }
        let policy = self
            .settings
            .entitlements
            .get(&request.app_id)
            .map(EntitlementRules::transfer)
            .unwrap_or_default();
        let renewable = purchase.kind == Some(payseal_protocol::PurchaseKind::Subscription);
        if outcome == RedeemOutcome::First || (outcome == RedeemOutcome::Repeat && renewable) {
            // A repeat can move a subscription's period end forward (a renewal presented).
            self.announce(&request.app_id, &request.account_id, now_ms, "purchase")
                .await;
        }
        if outcome == RedeemOutcome::OtherAccount
            && restore
            && entitlements::may_transfer(policy, purchase.kind)
        {
            return self.transfer(claims, &purchase, now_ms).await;
        }
        Ok(match outcome {
            RedeemOutcome::First => paid(claims, Redemption::First),
            RedeemOutcome::Repeat => paid(claims, Redemption::Repeat),
            RedeemOutcome::OtherAccount => not_paid(claims, Reason::AlreadyRedeemed, None),
            RedeemOutcome::Revoked => not_paid(claims, Reason::Revoked, None),
        })
    }

    /// Whether the app's refund threshold refuses this verification: the account has more
    /// refunds than allowed in the window and this would be its **first** redemption of the
    /// purchase (nobody holds it yet). A purchase the account already redeemed (a repeat),
    /// another account's, or a revoked one is left to the redemption as usual.
    async fn refund_limit_refuses(
        &self,
        request: &VerifyRequest,
        purchase: &Purchase,
        limit: crate::settings::RefundLimit,
        now_ms: i64,
    ) -> Result<bool, ServiceError> {
        let since = now_ms - i64::from(limit.window_days) * 86_400_000;
        let refunds = self
            .ledger
            .refund_history(&request.app_id, &request.account_id, since)
            .await?
            .total();
        if !limit.refuses(refunds) {
            return Ok(false);
        }
        let held = self
            .ledger
            .find(purchase.store, &request.app_id, &purchase.transaction_key)
            .await?;
        if held.is_none() {
            tracing::info!(app = %request.app_id, refunds, max = limit.max_refunds,
                window_days = limit.window_days, "first redemption refused: refund limit");
        }
        Ok(held.is_none())
    }

    /// A Play subscription chain its owner presents again, whose state a store event recorded
    /// (RTDN, confirmed by `subscriptionsv2.get`): the verdict says the stored state and period
    /// end, and refuses when they do not pay ([`crate::ledger::subscription_refusal`], the rule
    /// the entitlements use too). Only for apps with the Play Developer API (the only ones whose
    /// chains have a stored state); anything else is left to the redemption.
    async fn stored_subscription(
        &self,
        request: &VerifyRequest,
        purchase: &Purchase,
        claims: &mut VerdictClaims,
        now_ms: i64,
    ) -> Result<Option<Reason>, ServiceError> {
        if purchase.store != Store::GooglePlay
            || purchase.kind != Some(payseal_protocol::PurchaseKind::Subscription)
            || !self.play_apis.contains_key(&request.app_id)
        {
            return Ok(None);
        }
        let Some(row) = self
            .ledger
            .find(purchase.store, &request.app_id, &purchase.transaction_key)
            .await?
        else {
            return Ok(None);
        };
        let Some(state) = row.subscription_state.as_deref() else {
            return Ok(None);
        };
        if row.account_id != request.account_id || row.revoked_at_ms.is_some() {
            return Ok(None);
        }
        claims.subscription_state = payseal_protocol::SubscriptionState::parse(state);
        claims.expires_at = row.expires_at_ms;
        Ok(crate::ledger::subscription_refusal(
            state,
            row.expires_at_ms,
            now_ms,
        ))
    }

    /// An App Store subscription chain (`purchase.transaction_key`, its
    /// `originalTransactionId`), before the ledger step; `lapsed`: its signed period has ended
    /// (only Apple's signed state can still make it pay: billing grace).
    ///
    /// - Its owner presents it again and the ledger stores its state (signed notifications,
    ///   or an earlier status answer): that state decides ([`stored_chain`]), the verdict says
    ///   it; Apple is not asked (never on a repeat).
    /// - Nobody redeemed it and the app has an App Store Server API key: Get All Subscription
    ///   Statuses, its signed values checked ([`AppStoreApi::subscription_status`],
    ///   [`decide_status`]); the answer is stored with the chain once redeemed (returned).
    ///   Apple unreachable: the app's `on_store_unavailable`, as Play's live check.
    /// - Otherwise the signature decides: `expired` when lapsed.
    async fn app_store_chain(
        &self,
        request: &VerifyRequest,
        purchase: &mut Purchase,
        claims: &mut VerdictClaims,
        lapsed: bool,
        now_ms: i64,
    ) -> Result<(Option<Reason>, Option<SubscriptionAnswer>), ServiceError> {
        let by_signature = (lapsed.then_some(Reason::Expired), None);
        let app_id = request.app_id.as_str();
        let row = self
            .ledger
            .find(purchase.store, app_id, &purchase.transaction_key)
            .await?;
        if let Some(row) = row {
            let owner = row.account_id == request.account_id && row.revoked_at_ms.is_none();
            let Some(state) = row.subscription_state.as_deref().filter(|_| owner) else {
                return Ok(by_signature);
            };
            let (claim, end, refusal) =
                stored_chain(state, row.expires_at_ms, purchase.expires_at, now_ms);
            claims.subscription_state = claim;
            claims.expires_at = end;
            return Ok((refusal, None));
        }
        let Some(api) = self.app_store_apis.get(app_id) else {
            return Ok(by_signature);
        };
        let asked = api
            .subscription_status(
                purchase.environment,
                &purchase.transaction_id,
                &purchase.transaction_key,
                &self.settings.anchors,
                now_ms,
            )
            .await;
        let detail = match asked {
            Ok(Some(status)) => match decide_status(&status, now_ms) {
                Ok(answer) => {
                    claims.store_checked = Some(true);
                    claims.subscription_state = Some(answer.state);
                    claims.expires_at = answer.expires_at;
                    if answer.expires_at.is_some() {
                        purchase.expires_at = answer.expires_at;
                    }
                    return Ok((answer.refusal, Some(answer.stored)));
                }
                Err(e) => e.to_string(),
            },
            // Apple lists no auto-renewable chain of it (a non-renewing subscription): the
            // signature decides.
            Ok(None) => return Ok(by_signature),
            Err(e) if e.not_found() => {
                claims.store_checked = Some(true);
                return Ok((Some(Reason::NotPurchased), None));
            }
            Err(e) => e.to_string(),
        };
        store_unavailable(
            api.settings().on_store_unavailable,
            claims,
            app_id,
            Store::AppStore,
            detail,
        )?;
        Ok(by_signature)
    }

    /// Store Apple's answer at a chain's first redemption with the chain's row: a store event
    /// (`subscription_status`, idempotent by the verdict id) through the one subscription
    /// path (`payseal_ledger::notifications::Effect::UpdateSubscription`), without a
    /// `subscription.updated` (the `purchase.paid` webhook carries the state).
    async fn store_first_state(
        &self,
        app_id: &str,
        purchase: &Purchase,
        verdict_id: &str,
        answer: SubscriptionAnswer,
    ) -> Result<(), ServiceError> {
        let event = crate::notifications::Verified {
            store: Store::AppStore,
            revoker: crate::ledger::event::Revoker::Store(Store::AppStore),
            notification_id: format!("status:{verdict_id}"),
            notification_type: STATUS_EVENT.into(),
            subtype: None,
            type_label: STATUS_EVENT,
            environment: Some(purchase.environment),
            signed_ms: answer.checked_ms,
            apps: vec![app_id.to_string()],
            transaction_key: Some(purchase.transaction_key.clone()),
            reason: None,
            action: crate::notifications::Action::UpdateSubscription {
                keys: crate::ledger::event::EventKeys::new(
                    purchase.transaction_key.clone(),
                    None::<String>,
                ),
                answer,
            },
        };
        let (record, mut effect) =
            crate::notifications::ledger_change(&self.settings, &event, answer.checked_ms);
        if let crate::ledger::notifications::Effect::UpdateSubscription(target, _) = &mut effect {
            for app in &mut target.apps {
                app.notify = false;
            }
        }
        self.ledger.record_notification(record, effect).await?;
        Ok(())
    }

    /// Confirm a first presentation with Google (`google_api::live`): `Some(reason)` when
    /// Google says it does not pay. A repeat (the ledger has the row) asks Google nothing.
    /// Fills `subscription_state`, `expires_at` and `store_checked`; a purchase Google says was
    /// cancelled is recorded as a store event (refused from then on, for everyone).
    async fn live_check(
        &self,
        api: &PlayApi,
        request: &VerifyRequest,
        purchase: &mut Purchase,
        claims: &mut VerdictClaims,
        now_ms: i64,
    ) -> Result<Option<Reason>, ServiceError> {
        let app_id = request.app_id.as_str();
        if self
            .ledger
            .find(purchase.store, app_id, &purchase.transaction_key)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let Some(token) = purchase.purchase_token.clone() else {
            return Ok(None);
        };
        let mut linked = None;
        let answer: Result<LiveAnswer, String> =
            if purchase.kind == Some(payseal_protocol::PurchaseKind::Subscription) {
                match api.subscriptionsv2_get(&token).await {
                    Ok(s) => {
                        linked = s.linked_purchase_token.clone().filter(|t| !t.is_empty());
                        decide_subscription(&s, now_ms).map_err(|e| e.to_string())
                    }
                    Err(e) if e.google().is_some_and(|g| g.not_found()) => {
                        claims.store_checked = Some(true);
                        return Ok(Some(Reason::NotPurchased));
                    }
                    Err(e) => Err(e.to_string()),
                }
            } else {
                match api.products_get(&purchase.product_id, &token).await {
                    Ok(p) => decide_product(&p).map_err(|e| e.to_string()),
                    Err(e) if e.google().is_some_and(|g| g.not_found()) => {
                        claims.store_checked = Some(true);
                        return Ok(Some(Reason::NotPurchased));
                    }
                    Err(e) => Err(e.to_string()),
                }
            };
        let answer = match answer {
            Ok(a) => a,
            Err(detail) => {
                store_unavailable(
                    api.settings().on_store_unavailable,
                    claims,
                    app_id,
                    Store::GooglePlay,
                    detail,
                )?;
                return Ok(None);
            }
        };
        claims.store_checked = Some(true);
        // An upgrade, downgrade or re-signup (`linkedPurchaseToken`: the chain it replaces)
        // stays with the old chain's owner: another account presenting it is refused.
        if let Some(old) = linked {
            let owner = self.ledger.find(purchase.store, app_id, &old).await?;
            if let Some(row) = owner.filter(|r| r.account_id != crate::ledger::UNREDEEMED_ACCOUNT) {
                if row.account_id != request.account_id {
                    tracing::info!(
                        app = app_id,
                        "Play live check: an upgrade of another account's subscription refused"
                    );
                    return Ok(Some(Reason::AlreadyRedeemed));
                }
            }
        }
        if answer.subscription_state.is_some() {
            claims.subscription_state = answer.subscription_state;
        }
        if answer.expires_at.is_some() {
            claims.expires_at = answer.expires_at;
            purchase.expires_at = answer.expires_at;
        }
        if answer.refunded {
            let order_id =
                (purchase.transaction_id != token).then_some(purchase.transaction_id.as_str());
            let void = crate::notifications::PlayVoid {
                event_id: format!("live:{}", order_id.unwrap_or(&token)),
                event_type: "productsGet",
                type_label: "live_check",
                package_name: &api.settings().package_name,
                order_id,
                purchase_token: &token,
                reason: answer.detail.clone(),
                at_ms: now_ms,
            };
            if let Some(event) = crate::notifications::play_void_event(&self.settings, void) {
                crate::notifications::record(&self.settings, self.ledger.as_ref(), &event, now_ms)
                    .await?;
            }
        }
        Ok(answer.refusal)
    }

    /// Move the purchase of `claims` (owned by another account) to the restoring account, with
    /// its `purchase.transferred` webhook; `paid / first` for the new owner when it moved,
    /// `already_redeemed` when the ledger refused (revoked, or its owner changed meanwhile).
    async fn transfer(
        &self,
        claims: VerdictClaims,
        purchase: &Purchase,
        now_ms: i64,
    ) -> Result<VerdictClaims, ServiceError> {
        let owner = self
            .ledger
            .find(purchase.store, &claims.app, &purchase.transaction_key)
            .await?;
        let Some(owner) = owner.filter(|row| !row.is_refusal()) else {
            return Ok(not_paid(claims, Reason::AlreadyRedeemed, None));
        };
        let claims = paid(claims, Redemption::First);
        let delivery = match self.settings.webhooks.get(&claims.app) {
            Some(_) => Some(crate::webhook::transferred_event(
                &claims,
                &purchase.transaction_key,
                &owner.account_id,
                now_ms,
            )?),
            None => None,
        };
        let moved = self
            .ledger
            .transfer(
                TransferRequest {
                    store: purchase.store,
                    app_id: claims.app.clone(),
                    transaction_key: purchase.transaction_key.clone(),
                    from_account: owner.account_id.clone(),
                    to_account: claims.sub.clone(),
                    now_ms,
                },
                delivery,
            )
            .await?;
        Ok(match moved {
            TransferOutcome::Transferred => {
                tracing::info!(app = %claims.app, store = purchase.store.as_str(),
                    "purchase transferred to the restoring account");
                for account in [&owner.account_id, &claims.sub] {
                    self.announce(&claims.app, account, now_ms, "transfer")
                        .await;
                }
                claims
            }
            TransferOutcome::Revoked => not_paid(claims, Reason::Revoked, None),
            TransferOutcome::OwnerChanged | TransferOutcome::NotFound => {
                not_paid(claims, Reason::AlreadyRedeemed, None)
            }
        })
    }

    fn base_claims(&self, request: &VerifyRequest, now_ms: i64) -> VerdictClaims {
        let iat = now_ms.div_euclid(1000);
        let ttl = i64::try_from(self.settings.verdict_ttl.as_secs()).unwrap_or(600);
        VerdictClaims {
            iss: self.settings.public_url.clone(),
            iat,
            exp: iat.saturating_add(ttl),
            // A v4 UUID from the thread's CSPRNG (`rand::thread_rng`, seeded from the OS):
            // `Uuid::new_v4` asks the OS for every one, a system call per request.
            jti: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
            nonce: request.nonce.clone(),
            app: request.app_id.clone(),
            sub: request.account_id.clone(),
            store: request.receipt.store(),
            environment: None,
            product_id: None,
            transaction_id: None,
            original_transaction_id: None,
            quantity: None,
            purchased_at: None,
            kind: None,
            expires_at: None,
            receipt_sha256: request.receipt.sha256_hex(),
            outcome: Outcome::NotPaid,
            reason: None,
            redemption: None,
            subscription_state: None,
            store_checked: None,
            refund_history: None,
        }
    }
}

/// For stores whose signed purchase data can say a purchase was refunded or revoked, the reason
/// recorded with the revocation. Google Play's purchase JSON cannot: its refunds come through
/// [`crate::notifications`] (real-time developer notifications, Voided Purchases API).
fn store_revocation(store: Store) -> Option<&'static str> {
    match store {
        Store::AppStore => Some("app_store: the transaction has a revocationDate"),
        Store::Huawei => Some("huawei: purchaseState 2 (refunded)"),
        Store::Sandbox => Some("sandbox: state refunded"),
        Store::GooglePlay => None,
    }
}

/// A store's server could not be asked at verification (`detail`: why): the app's
/// `on_store_unavailable` decides, for Play's live check and Apple's status check alike.
/// `"signature"`: `Ok`, the signature alone decides, `store_checked: false`; `"retry"`:
/// [`ServiceError::StoreUnavailable`] (`503` + `Retry-After`, nothing recorded).
fn store_unavailable(
    rule: OnStoreUnavailable,
    claims: &mut VerdictClaims,
    app_id: &str,
    store: Store,
    detail: String,
) -> Result<(), ServiceError> {
    match rule {
        OnStoreUnavailable::Signature => {
            tracing::warn!(app = app_id, store = store.as_str(), error = %detail,
                "store check at verification: the store not asked; decided on the signature alone");
            claims.store_checked = Some(false);
            Ok(())
        }
        OnStoreUnavailable::Retry => Err(ServiceError::StoreUnavailable {
            retry_after_s: 5,
            detail,
        }),
    }
}

/// The type of the store event that stores Apple's status answer at a first redemption.
pub(crate) const STATUS_EVENT: &str = "subscription_status";

/// An App Store subscription the rule refused as `expired` by its date alone, whose purchase
/// otherwise passed every check (the request's expectations too): a chain Apple's signed state
/// may still extend (billing grace). `None` for anything else.
fn lapsed_app_store_chain(
    rejection: &Rejection,
    app: &AppRules,
    expected: &Expectation<'_>,
) -> Option<Purchase> {
    let p = rejection.lapsed.as_deref()?;
    let chain = p.store == Store::AppStore
        && p.kind == Some(payseal_protocol::PurchaseKind::Subscription)
        && p.original_transaction_id.as_deref() == Some(p.transaction_key.as_str());
    (chain && rules::check_expected(p, app, expected).is_ok()).then(|| p.clone())
}

/// The wire rules of the request, as `payseal_protocol` defines them (the SDK applies the same).
fn validate_request(request: &VerifyRequest) -> Result<(), ServiceError> {
    request
        .validate()
        .map_err(|e| ServiceError::BadRequest(e.as_str()))
}

/// Run the app's store rule (which also decides the environment and quantity).
fn check(
    app: &AppRules,
    anchors: &TrustAnchors,
    receipt: &Receipt,
    now_ms: i64,
) -> Result<Purchase, Rejection> {
    rules::check_receipt(receipt, app, anchors, now_ms)
}

fn fill_purchase(claims: &mut VerdictClaims, p: &Purchase) {
    claims.store = p.store;
    claims.environment = Some(p.environment);
    claims.product_id = Some(p.product_id.clone());
    claims.transaction_id = Some(p.transaction_id.clone());
    claims.original_transaction_id = p.original_transaction_id.clone();
    claims.quantity = Some(p.quantity);
    claims.purchased_at = Some(p.purchased_at);
    claims.kind = p.kind;
    claims.expires_at = p.expires_at;
}

fn paid(mut claims: VerdictClaims, redemption: Redemption) -> VerdictClaims {
    claims.outcome = Outcome::Paid;
    claims.reason = None;
    claims.redemption = Some(redemption);
    claims
}

fn not_paid(
    mut claims: VerdictClaims,
    reason: Reason,
    partial: Option<&PartialPurchase>,
) -> VerdictClaims {
    claims.outcome = Outcome::NotPaid;
    claims.reason = Some(reason);
    claims.redemption = None;
    if let Some(p) = partial {
        claims.environment = p.environment;
        claims.product_id = p.product_id.clone();
        claims.transaction_id = p.transaction_id.clone();
        claims.kind = p.kind;
        claims.expires_at = p.expires_at;
    }
    claims
}

/// The purchase part of an offline check report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckedPurchase {
    /// Production or sandbox.
    pub environment: payseal_protocol::Environment,
    /// Product id.
    pub product_id: String,
    /// The ledger key.
    pub transaction_key: String,
    /// The store's transaction id.
    pub transaction_id: String,
    /// The original transaction id, when the store has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_transaction_id: Option<String>,
    /// Quantity.
    pub quantity: u32,
    /// Purchase time, Unix milliseconds.
    pub purchased_at: i64,
    /// Consumable / non-consumable / subscription, when the store says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<payseal_protocol::PurchaseKind>,
    /// Subscriptions: end of the paid period, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// What `payseal-verifier check` prints: the store rule's decision for one receipt, offline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckReport {
    /// The app id checked against.
    pub app: String,
    /// The receipt's store (absent when the receipt JSON did not parse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<Store>,
    /// Paid or not (by the store rule alone; the ledger is not consulted).
    pub outcome: Outcome,
    /// Why not paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Operator-facing explanation.
    pub detail: String,
    /// Hex SHA-256 of the receipt's canonical bytes (absent when the receipt JSON did not parse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_sha256: Option<String>,
    /// The purchase, when paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase: Option<CheckedPurchase>,
}

impl CheckReport {
    /// The report for a receipt file that is not receipt JSON.
    pub(crate) fn malformed(app_id: &str, detail: String) -> Self {
        Self {
            app: app_id.to_string(),
            store: None,
            outcome: Outcome::NotPaid,
            reason: Some(Reason::Malformed),
            detail,
            receipt_sha256: None,
            purchase: None,
        }
    }
}

/// Run the store rule for `receipt` against `app_id` offline (no ledger, no server settings).
pub(crate) fn check_offline(
    settings: &OfflineSettings,
    app_id: &str,
    receipt: &Receipt,
    now_ms: i64,
) -> CheckReport {
    let mut report = CheckReport {
        app: app_id.to_string(),
        store: Some(receipt.store()),
        outcome: Outcome::NotPaid,
        reason: None,
        detail: String::new(),
        receipt_sha256: Some(receipt.sha256_hex()),
        purchase: None,
    };
    let Some(app) = settings.apps.get(app_id) else {
        report.reason = Some(Reason::UnknownApp);
        report.detail = format!("app {app_id:?} is not configured on this verifier");
        return report;
    };
    match check(app, &settings.anchors, receipt, now_ms) {
        Ok(p) => {
            report.outcome = Outcome::Paid;
            report.detail = format!(
                "{} signature, app binding and state verified",
                p.store.as_str()
            );
            report.purchase = Some(CheckedPurchase {
                environment: p.environment,
                product_id: p.product_id,
                transaction_key: p.transaction_key,
                transaction_id: p.transaction_id,
                original_transaction_id: p.original_transaction_id,
                quantity: p.quantity,
                purchased_at: p.purchased_at,
                kind: p.kind,
                expires_at: p.expires_at,
            });
        }
        Err(r) => {
            report.reason = Some(r.reason);
            report.detail = r.detail;
        }
    }
    report
}
