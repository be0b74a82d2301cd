//! The receiver's check ([`verify_webhook`]), defined once in [`payseal_protocol::webhook`]
//! (the format, the header and the rules a receiver follows are documented there) and
//! re-exported here and by `payseal-appserver`.

pub use payseal_protocol::webhook::{
    verify_webhook, WebhookError, WebhookEvent, DEFAULT_TOLERANCE, PURCHASE_PAID, PURCHASE_REVOKED,
};
