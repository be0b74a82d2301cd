//! The `PaySeal-Signature` header (Stripe style): `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the
//! MAC keyed with the app's webhook secret over the bytes `"<t>.<body>"`. Defined once in
//! [`payseal_protocol::webhook`]; re-exported here for the delivery worker.

pub use payseal_protocol::webhook::{
    mac, signature_header, HmacSha256, EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER,
};
