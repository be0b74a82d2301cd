//! Against a real verifier on 127.0.0.1 over real TLS: keys fetched from `GET /v1/keys`, real
//! tokens from real sealed verifications, replay refused, key rotation followed (a restart
//! with a new verdict key first makes the unknown `kid` trigger one refetch), random `kid`s
//! rate-limited, last good keys used while the verifier is down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_appserver::{
    JwksError, JwksOptions, JwksSource, JwksTokenVerifier, MemoryDeliveryGuard, MemoryReplayGuard,
    Policy, PurchaseKey, TokenError, TokenVerifier,
};
use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::verdict::VerdictSigningKey;
use payseal_protocol::{
    Reason, Receipt, Redemption, SdkInfo, Store, VerifyRequest, VerifyResponse, PROTOCOL_VERSION,
};
use payseal_sandbox::{Order, SandboxStore};
use payseal_verifier::dev::{DevPaths, DEV_APP_ID as APP};
use payseal_verifier::server::{Server, ServerError, REQUEST_CONTENT_TYPE};
use payseal_verifier::settings::Settings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PUBLIC_URL: &str = "https://localhost:8443";

/// A dev-style state directory (keys, self-signed TLS, sandbox store, config).
struct State {
    _dir: tempfile::TempDir,
    paths: DevPaths,
    store: SandboxStore,
}

impl State {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths =
            payseal_verifier::dev::prepare(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        let text = std::fs::read_to_string(&paths.config).unwrap();
        let text = text.replacen(
            "# public_url defaults to",
            &format!("public_url = \"{PUBLIC_URL}\"\n# public_url defaults to"),
            1,
        );
        std::fs::write(&paths.config, text).unwrap();
        let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
        Self {
            _dir: dir,
            paths,
            store,
        }
    }
    fn settings(&self) -> Settings {
        payseal_verifier::config::load_with_env(&self.paths.config, |_| None).unwrap()
    }
    fn receipt(&self) -> Receipt {
        self.store
            .issue(&Order::new(Store::GooglePlay, APP, "coins_100"))
            .unwrap()
    }
    fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(&self.paths.tls_cert).unwrap()
    }
}

/// A running verifier.
struct Running {
    addr: SocketAddr,
    key_config: KeyConfig,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Running {
    async fn start(state: &State, settings: Settings) -> Self {
        let key_config = settings.hpke_keys[0].config();
        let server = Server::bind(settings).unwrap();
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        payseal_verifier::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&state.cert_pem()).unwrap())
            .build()
            .unwrap();
        Self {
            addr,
            key_config,
            http,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    fn keys_url(&self) -> String {
        format!("https://127.0.0.1:{}/v1/keys", self.addr.port())
    }

    /// A real verification: seal, POST /v1/verify, open; the verdict token as the app gets it.
    async fn token(&self, account: &str, receipt: &Receipt) -> String {
        let request = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            app_id: APP.into(),
            account_id: account.into(),
            receipt: receipt.clone(),
            sdk: SdkInfo {
                name: "payseal-appserver-tests".into(),
                version: "0".into(),
            },
            expected_product_id: None,
        };
        let (body, ctx) =
            envelope::seal_request(&self.key_config, &serde_json::to_vec(&request).unwrap())
                .unwrap();
        let response = self
            .http
            .post(format!("https://127.0.0.1:{}/v1/verify", self.addr.port()))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let sealed = response.bytes().await.unwrap();
        let plain = ctx.open_response(&sealed).unwrap();
        let response: VerifyResponse = serde_json::from_slice(&plain).unwrap();
        response.verdict
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn with_kid(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"] = kid.into();
    format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
    )
}

/// The claims of a genuine token (checked with the profile's keys), whatever its outcome.
fn from_profile_claims(
    profile: &payseal_protocol::profile::Profile,
    token: &str,
) -> payseal_protocol::VerdictClaims {
    TokenVerifier::from_profile(profile, Policy::new(APP))
        .unwrap()
        .verified_claims(token, now())
        .unwrap()
}

fn now() -> i64 {
    payseal_appserver::unix_now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_tokens_replay_and_rotation_against_a_real_verifier() {
    let state = State::new();
    let settings = state.settings();
    let profile = payseal_verifier::profile::build(&settings).unwrap();
    let mut first = Running::start(&state, settings).await;
    let addr = first.addr;

    let source = Arc::new(
        JwksSource::new(
            JwksOptions::new(first.keys_url())
                .with_extra_root_pem(state.cert_pem())
                .with_min_refetch_interval(Duration::from_secs(30)),
        )
        .unwrap(),
    );
    let policy = Policy::new(APP).with_issuer(PUBLIC_URL);
    let tokens = JwksTokenVerifier::new(source.clone(), policy.clone());
    let guard = MemoryReplayGuard::new();
    let delivered = MemoryDeliveryGuard::new();

    // A real paid verdict, checked with keys fetched from GET /v1/keys.
    let receipt = state.receipt();
    let token = first.token("player-1", &receipt).await;
    let grant = tokens
        .accept(&token, now(), &guard, &delivered)
        .await
        .unwrap();
    assert_eq!(grant.account, "player-1");
    assert_eq!(grant.product_id, "coins_100");
    assert_eq!(grant.redemption, Redemption::First);
    assert_eq!(grant.store, Store::GooglePlay);
    assert!(!grant.transaction_id.is_empty());
    assert_eq!(source.stats().attempts, 1);
    assert_eq!(source.stats().keys, 1);

    // The same keys from the profile give the same answer (no replay check in `check`).
    let from_profile = TokenVerifier::from_profile(&profile, policy.clone()).unwrap();
    assert_eq!(from_profile.check(&token, now()).unwrap(), grant);

    // The same token again: refused.
    assert_eq!(
        tokens
            .accept(&token, now(), &guard, &delivered)
            .await
            .unwrap_err(),
        TokenError::Replayed {
            jti: grant.verdict_id.clone()
        }
    );
    // The same receipt by the same account, verified again and again: each time a new genuine
    // token (fresh jti, a repeat redemption), and the purchase is not delivered again.
    for _ in 0..4 {
        let repeat = first.token("player-1", &receipt).await;
        let claims = from_profile_claims(&profile, &repeat);
        assert_eq!(claims.redemption, Some(Redemption::Repeat));
        assert_ne!(claims.jti, grant.verdict_id);
        assert_eq!(claims.transaction_id.as_ref(), Some(&grant.transaction_id));
        assert_eq!(
            tokens
                .accept(&repeat, now(), &guard, &delivered)
                .await
                .unwrap_err(),
            TokenError::AlreadyDelivered {
                transaction_id: grant.transaction_id.clone(),
                verdict_id: grant.verdict_id.clone()
            }
        );
    }
    assert!(delivered.is_delivered(&PurchaseKey::of(&grant)));
    // Another purchase of the same product by the same account: delivered.
    let second_pack = first.token("player-1", &state.receipt()).await;
    let second = tokens
        .accept(&second_pack, now(), &guard, &delivered)
        .await
        .unwrap();
    assert_eq!(
        (second.product_id.as_str(), second.redemption),
        ("coins_100", Redemption::First)
    );
    assert_ne!(second.transaction_id, grant.transaction_id);
    assert_eq!(delivered.len(), 2);
    // By another account: a genuine not_paid verdict, refused with its reason.
    let stolen = first.token("player-2", &receipt).await;
    assert_eq!(
        tokens
            .accept(&stolen, now(), &guard, &delivered)
            .await
            .unwrap_err(),
        TokenError::NotPaid {
            reason: Some(Reason::AlreadyRedeemed)
        }
    );
    // Another app's server refuses this app's token.
    let other_app = JwksTokenVerifier::new(source.clone(), Policy::new("com.other.game"));
    assert!(matches!(
        other_app.check(&token, now()).await,
        Err(TokenError::WrongApp { .. })
    ));
    // A token signed by the old key, not yet presented to the app server.
    let old_key_token = first.token("player-3", &state.receipt()).await;
    let old_kid = kid(&old_key_token);
    assert_eq!(source.stats().attempts, 1, "all of that from the cache");

    // Rotation: restart the verifier on the same address with a new verdict key first
    // (signing) and the old one still published.
    first.stop().await;
    let mut settings = state.settings();
    settings.listen = addr;
    let new_kid = format!("rotated-{}", uuid::Uuid::new_v4().simple());
    settings
        .verdict_keys
        .insert(0, VerdictSigningKey::generate(new_kid.clone()));
    let mut second = Running::start(&state, settings).await;
    assert_eq!(second.addr, addr);

    let rotated = second.token("player-4", &state.receipt()).await;
    assert_eq!(kid(&rotated), new_kid);
    // The cached set lacks the new kid: one refetch, then accepted.
    let grant = tokens
        .accept(&rotated, now(), &guard, &delivered)
        .await
        .unwrap();
    assert_eq!(grant.account, "player-4");
    assert_eq!(source.stats().attempts, 2);
    assert_eq!(source.stats().keys, 2);
    // The old key is still published, so its token still verifies.
    assert_ne!(old_kid, new_kid);
    assert_eq!(
        tokens
            .accept(&old_key_token, now(), &guard, &delivered)
            .await
            .unwrap()
            .account,
        "player-3"
    );

    // An attacker's random kids: refused, and no further fetch inside the rate-limit window.
    for i in 0..20 {
        let forged = with_kid(&rotated, &format!("attacker-{i}"));
        assert_eq!(
            tokens.check(&forged, now()).await.unwrap_err(),
            TokenError::UnknownKey(Some(format!("attacker-{i}")))
        );
    }
    assert_eq!(source.stats().attempts, 2, "random kids must not refetch");
    // The fixed-key (profile) verifier does not know the rotated key.
    assert_eq!(
        from_profile.check(&rotated, now()).unwrap_err(),
        TokenError::UnknownKey(Some(new_kid))
    );

    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_good_keys_while_the_verifier_is_down_and_tls_is_checked() {
    let state = State::new();
    let mut verifier = Running::start(&state, state.settings()).await;

    // Trusting only the built-in roots, the self-signed dev certificate is refused.
    let untrusted = JwksSource::new(JwksOptions::new(verifier.keys_url())).unwrap();
    match untrusted.refresh().await {
        Err(JwksError::Transport(why)) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    assert_eq!(untrusted.stats().keys, 0);

    // TTL 0 and no rate limit: every check refetches.
    let source = Arc::new(
        JwksSource::new(
            JwksOptions::new(verifier.keys_url())
                .with_extra_root_pem(state.cert_pem())
                .with_ttl(Duration::ZERO)
                .with_min_refetch_interval(Duration::ZERO),
        )
        .unwrap(),
    );
    let tokens = JwksTokenVerifier::new(source.clone(), Policy::new(APP).with_issuer(PUBLIC_URL));
    let guard = MemoryReplayGuard::new();
    let delivered = MemoryDeliveryGuard::new();
    let early = verifier.token("player-1", &state.receipt()).await;
    let late = verifier.token("player-2", &state.receipt()).await;
    tokens
        .accept(&early, now(), &guard, &delivered)
        .await
        .unwrap();
    assert_eq!(source.stats().failures, 0);

    verifier.stop().await;
    assert!(matches!(
        source.refresh().await,
        Err(JwksError::Transport(_))
    ));
    // The refetch fails, the last good keys are used.
    let grant = tokens
        .accept(&late, now(), &guard, &delivered)
        .await
        .unwrap();
    assert_eq!(grant.account, "player-2");
    let stats = source.stats();
    assert!(stats.failures >= 2, "{stats:?}");
    assert_eq!(stats.keys, 1);
}
