//! `payseal-sandbox`: issue one sandbox purchase in a store's real format, or print the store's keys.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use payseal_protocol::{Environment, Store};
use payseal_sandbox::{
    now_ms, AppStoreNotification, Order, ProductType, PurchaseState, SandboxError, SandboxStore,
    DEV_STORE_SUBDIR,
};

/// PaySeal sandbox store: issues purchases in the real store formats, signed by test keys.
///
/// Never a production store. Point `--dir` at a `payseal-verifier dev` state directory to sign
/// with the keys that `dev` configured (its `sandbox-store/` subdirectory is used).
#[derive(Debug, Parser)]
#[command(name = "payseal-sandbox", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Issue a Google Play purchase (purchase JSON + SHA1withRSA signature).
    GooglePlay(IssueArgs),
    /// Issue an App Store (StoreKit 2) JWS transaction.
    AppStore(IssueArgs),
    /// Issue an App Store app receipt (the original StoreKit; Unity IAP's `AppleAppStore`
    /// payload) holding the purchase, signed by the store's app receipt test CA.
    AppStoreReceipt(IssueArgs),
    /// Issue a Huawei AppGallery purchase (InAppPurchaseData + SHA256WithRSA signature).
    Huawei(HuaweiArgs),
    /// Issue a PaySeal sandbox-store purchase (Ed25519).
    Sandbox(IssueArgs),
    /// Print the public keys and the App Store test roots' fingerprints as JSON.
    Keys(DirArg),
    /// Make an App Store Server Notification V2 body (`{"signedPayload": JWS}`), signed like
    /// the store's transactions, to POST to `/v1/stores/app-store/notifications`.
    AppStoreNotification(NotificationArgs),
}

#[derive(Debug, clap::Args)]
struct NotificationArgs {
    /// Store directory, or a `payseal-verifier dev` state directory.
    #[arg(long)]
    dir: PathBuf,
    /// `notificationType`: REFUND, REVOKE, REFUND_REVERSED, CONSUMPTION_REQUEST, TEST, ...
    #[arg(long = "type")]
    notification_type: String,
    /// `subtype`, if the type has one.
    #[arg(long)]
    subtype: Option<String>,
    /// `notificationUUID`; random when absent.
    #[arg(long)]
    uuid: Option<String>,
    /// The bundle id (`data.bundleId`).
    #[arg(long)]
    app: String,
    /// Product id of the transaction.
    #[arg(long, default_value = "coins_100")]
    product: String,
    /// Store environment.
    #[arg(long, value_enum, default_value = "sandbox")]
    environment: EnvArg,
    /// `transactionId` of the transaction (random when absent; ignored for TEST).
    #[arg(long)]
    transaction_id: Option<String>,
    /// Add a `signedRenewalInfo` (auto-renewable subscriptions).
    #[arg(long)]
    renewal_info: bool,
    /// The transaction is an auto-renewable subscription's whose period ends this long from
    /// now (`30d`, `-1h` for a lapsed one), of the chain `--original-transaction-id`.
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true)]
    subscription_expires_in: Option<i64>,
    /// The subscription's chain (`originalTransactionId`); the transaction's own id when absent.
    #[arg(long)]
    original_transaction_id: Option<String>,
    /// `data.status` (1 active, 2 expired, 3 billing retry, 4 billing grace, 5 revoked).
    #[arg(long, default_value_t = 1)]
    status: u8,
    /// The renewal info's `autoRenewStatus` (1 renews, 0 turned off).
    #[arg(long, default_value_t = 1)]
    auto_renew_status: u8,
    /// The renewal info's `gracePeriodExpiresDate`, this long from now (`16d`).
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true)]
    grace_period_ends_in: Option<i64>,
}

#[derive(Debug, clap::Args)]
struct DirArg {
    /// Store directory, or a `payseal-verifier dev` state directory.
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// Store directory, or a `payseal-verifier dev` state directory.
    #[arg(long)]
    dir: PathBuf,
    /// App id (Play/Huawei packageName, App Store bundleId, sandbox app_id).
    #[arg(long)]
    app: String,
    /// Product id.
    #[arg(long)]
    product: String,
    /// Purchase state.
    #[arg(long, value_enum, default_value = "purchased")]
    state: StateArg,
    /// Store environment.
    #[arg(long, value_enum, default_value = "sandbox")]
    environment: EnvArg,
    /// Quantity.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    quantity: u32,
    /// Transaction id (Play/Huawei orderId, App Store transactionId); random when absent.
    #[arg(long)]
    transaction_id: Option<String>,
    /// The app's account token: Play `obfuscatedAccountId` (1..=64 characters), App Store
    /// `appAccountToken` (a UUID); absent when not given. Huawei and sandbox have no such field.
    #[arg(long)]
    account_token: Option<String>,
    /// Product type.
    #[arg(long = "type", value_enum, default_value = "consumable")]
    product_type: TypeArg,
    /// Subscriptions: the period ends this long from now (`30d`, `12h`, `90m`, `45s`; negative
    /// for a lapsed one: `-1d`). Default 30 days.
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true, conflicts_with = "expired")]
    expires_in: Option<i64>,
    /// Subscriptions: issue a lapsed period (it ended one day ago).
    #[arg(long)]
    expired: bool,
    /// Auto-renewable subscriptions: issue a renewal of this chain (App Store
    /// originalTransactionId, Huawei subscriptionId, sandbox original_transaction_id, Play: the
    /// original orderId whose purchaseToken the renewals keep).
    #[arg(long)]
    original_transaction_id: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Consumable,
    NonConsumable,
    /// Auto-renewable subscription.
    Subscription,
    NonRenewingSubscription,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// `30d`, `-1d`, `12h`, `90m`, `45s` → milliseconds.
fn parse_offset(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration like 30d, -1d, 12h, 90m or 45s");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "d" => DAY_MS,
        "h" => 60 * 60 * 1000,
        "m" => 60 * 1000,
        "s" => 1000,
        _ => return Err(bad()),
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    n.checked_mul(scale).ok_or_else(bad)
}

#[derive(Debug, clap::Args)]
struct HuaweiArgs {
    #[command(flatten)]
    issue: IssueArgs,
    /// Sign RSA-PSS (`SHA256WithRSA/PSS`) instead of PKCS#1 v1.5.
    #[arg(long)]
    pss: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StateArg {
    Purchased,
    Pending,
    Cancelled,
    Refunded,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EnvArg {
    Sandbox,
    Production,
}

/// The store directory: `DIR/sandbox-store` when `DIR` is a `dev` state directory, else `DIR`.
fn store_dir(dir: &Path) -> PathBuf {
    let dev = dir.join(DEV_STORE_SUBDIR);
    if dev.is_dir() {
        dev
    } else {
        dir.to_path_buf()
    }
}

fn order(store: Store, args: &IssueArgs) -> Order {
    let mut order = Order::new(store, args.app.clone(), args.product.clone());
    order.state = match args.state {
        StateArg::Purchased => PurchaseState::Purchased,
        StateArg::Pending => PurchaseState::Pending,
        StateArg::Cancelled => PurchaseState::Cancelled,
        StateArg::Refunded => PurchaseState::Refunded,
    };
    order.environment = match args.environment {
        EnvArg::Sandbox => Environment::Sandbox,
        EnvArg::Production => Environment::Production,
    };
    order.quantity = args.quantity;
    order.transaction_id = args.transaction_id.clone();
    order.account_token = args.account_token.clone();
    order.product_type = match args.product_type {
        TypeArg::Consumable => ProductType::Consumable,
        TypeArg::NonConsumable => ProductType::NonConsumable,
        TypeArg::Subscription => ProductType::AutoRenewableSubscription,
        TypeArg::NonRenewingSubscription => ProductType::NonRenewingSubscription,
    };
    let offset = if args.expired {
        Some(-DAY_MS)
    } else {
        args.expires_in
    };
    order.expires_at = offset.map(|o| now_ms().saturating_add(o));
    order.original_transaction_id = args.original_transaction_id.clone();
    order
}

fn run(cli: Cli) -> Result<String, SandboxError> {
    let (store, args, pss, app_receipt) = match &cli.command {
        Command::Keys(d) => {
            let s = SandboxStore::open_or_create(&store_dir(&d.dir))?;
            let keys = serde_json::json!({
                "dir": s.dir(),
                "google_play_public_key": s.google_play_public_key(),
                "huawei_public_key": s.huawei_public_key(),
                "sandbox_public_key": s.sandbox_public_key(),
                "app_store_root_path": s.app_store_root_path(),
                "app_store_root_sha256": s.app_store_root_sha256(),
                "app_receipt_root_path": s.app_receipt_root_path(),
                "app_receipt_root_sha256": s.app_receipt_root_sha256(),
            });
            return Ok(keys.to_string());
        }
        Command::AppStoreNotification(a) => return notification(a),
        Command::GooglePlay(a) => (Store::GooglePlay, a, false, false),
        Command::AppStore(a) => (Store::AppStore, a, false, false),
        Command::AppStoreReceipt(a) => (Store::AppStore, a, false, true),
        Command::Huawei(h) => (Store::Huawei, &h.issue, h.pss, false),
        Command::Sandbox(a) => (Store::Sandbox, a, false, false),
    };
    let order = order(store, args);
    if !order.product_type.is_subscription()
        && (order.expires_at.is_some() || order.original_transaction_id.is_some())
    {
        return Err(SandboxError::Unsupported(
            "--expires-in, --expired and --original-transaction-id need --type subscription \
             (or non-renewing-subscription)"
                .into(),
        ));
    }
    let s = SandboxStore::open_or_create(&store_dir(&args.dir))?;
    let receipt = if pss {
        s.issue_huawei_pss(&order)?
    } else if app_receipt {
        s.issue_app_receipt(&order)?
    } else {
        s.issue(&order)?
    };
    serde_json::to_string(&receipt).map_err(|e| SandboxError::Signing(e.to_string()))
}

fn notification(a: &NotificationArgs) -> Result<String, SandboxError> {
    let s = SandboxStore::open_or_create(&store_dir(&a.dir))?;
    let environment = match a.environment {
        EnvArg::Sandbox => Environment::Sandbox,
        EnvArg::Production => Environment::Production,
    };
    let mut n = if a.notification_type == "TEST" {
        AppStoreNotification::test(&a.app, environment)
    } else {
        let mut order = match a.subscription_expires_in {
            Some(offset) => Order::subscription(
                Store::AppStore,
                a.app.clone(),
                a.product.clone(),
                now_ms().saturating_add(offset),
                a.original_transaction_id.clone(),
            ),
            None => Order::new(Store::AppStore, a.app.clone(), a.product.clone()),
        };
        order.environment = environment;
        order.transaction_id = a.transaction_id.clone();
        AppStoreNotification::about(&a.notification_type, &order)
    };
    n.subtype = a.subtype.clone();
    n.notification_uuid = a.uuid.clone();
    n.renewal_info = a.renewal_info;
    n.renewal = payseal_sandbox::RenewalSpec {
        status: a.status,
        auto_renew_status: a.auto_renew_status,
        grace_period_expires_date: a.grace_period_ends_in.map(|o| now_ms().saturating_add(o)),
        ..payseal_sandbox::RenewalSpec::default()
    };
    s.app_store_notification(&n, payseal_sandbox::now_ms())
}

fn main() -> ExitCode {
    // clap prints usage errors and exits with status 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e @ SandboxError::Unsupported(_)) => {
            eprintln!("payseal-sandbox: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("payseal-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
