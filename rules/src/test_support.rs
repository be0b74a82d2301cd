//! Shared fixtures for the rule tests (and, with the `test-support` feature, for the tests of
//! code built on the rules): a genuine sandbox store, an attacker's store, app rules.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use payseal_protocol::{Environment, Receipt, Store};
use payseal_sandbox::{Order, SandboxStore};

use super::*;

/// The app id every test app uses.
pub const APP: &str = "com.example.game";

struct Held {
    _dir: tempfile::TempDir,
    store: SandboxStore,
}

fn held(cell: &'static OnceLock<Held>) -> &'static SandboxStore {
    &cell
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = SandboxStore::open_or_create(dir.path()).unwrap();
            Held { _dir: dir, store }
        })
        .store
}

/// The store the verifier is configured with.
pub fn genuine() -> &'static SandboxStore {
    static CELL: OnceLock<Held> = OnceLock::new();
    held(&CELL)
}

/// The attacker's own store: other keys, a self-made root with Apple's OIDs copied.
pub fn attacker() -> &'static SandboxStore {
    static CELL: OnceLock<Held> = OnceLock::new();
    held(&CELL)
}

/// An RSA public key from the Base64 SPKI form the consoles show.
pub fn rsa_key(b64: &str) -> RsaPublicKey {
    RsaPublicKey::from_spki_der(&STANDARD.decode(b64).unwrap()).unwrap()
}

/// App rules for [`APP`] on every store, with `store`'s keys, accepting `environments`.
pub fn app_with(store: &SandboxStore, environments: &[Environment]) -> AppRules {
    let ed: [u8; 32] = STANDARD
        .decode(store.sandbox_public_key())
        .unwrap()
        .try_into()
        .unwrap();
    AppRules {
        app_id: APP.into(),
        environments: environments.to_vec(),
        google_play: Some(GooglePlayRules {
            package_name: APP.into(),
            public_key: rsa_key(&store.google_play_public_key()),
        }),
        app_store: Some(AppStoreRules {
            bundle_id: APP.into(),
        }),
        huawei: Some(HuaweiRules {
            package_name: APP.into(),
            public_key: rsa_key(&store.huawei_public_key()),
        }),
        sandbox: Some(SandboxRules {
            public_key: ed25519_dalek::VerifyingKey::from_bytes(&ed).unwrap(),
        }),
        account_binding: None,
    }
}

/// The genuine store's app, accepting both environments.
pub fn app() -> AppRules {
    app_with(genuine(), &[Environment::Production, Environment::Sandbox])
}

/// Anchors trusting the genuine store's App Store root and app receipt root (a fresh chain
/// cache each call).
pub fn anchors() -> TrustAnchors {
    roots(vec![genuine().app_store_chain().root])
        .with_receipt_roots(vec![genuine().app_receipt_chain().root])
        .unwrap()
}

/// Anchors trusting exactly `apple_roots` (DER).
pub fn roots(apple_roots: Vec<Vec<u8>>) -> TrustAnchors {
    TrustAnchors::new(apple_roots).unwrap()
}

/// A purchased sandbox-environment order for [`APP`].
pub fn order(store: Store) -> Order {
    Order::new(store, APP, "gems_100")
}

/// The reason a receipt is refused for (panics if it is paid).
pub fn reason(result: Result<Purchase, Rejection>) -> payseal_protocol::Reason {
    match result {
        Ok(p) => panic!("expected a rejection, got paid {p:?}"),
        Err(r) => r.reason,
    }
}

/// The purchase data and signature of a two-part receipt.
pub fn parts(receipt: &Receipt) -> (String, String) {
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        }
        | Receipt::Huawei {
            purchase_data,
            signature,
            ..
        }
        | Receipt::Sandbox {
            purchase_data,
            signature,
        } => (purchase_data.clone(), signature.clone()),
        Receipt::AppStore { .. } | Receipt::AppStoreReceipt { .. } => {
            panic!("no purchase data and signature in an App Store receipt")
        }
    }
}

/// A random (well-formed, wrong) signature of `len` bytes, Base64.
pub fn random_signature(len: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut b);
    STANDARD.encode(b)
}
