//! The column lists the backends select, and the one place each row type is read from them: the
//! SQL of both backends names its columns with these macros (`concat!`, so statements stay
//! `&'static str`) and builds its rows with the matching `*_row!` macro, given the driver's
//! getter (`get` for rusqlite, `try_get` for tokio-postgres).

/// The columns of a [`crate::RedemptionRow`], in the order [`redemption_row!`] reads them.
macro_rules! redemption_columns {
    () => {
        "account_id, product_id, receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms, \
         revoked_at_ms, revoke_reason, expires_at_ms, subscription_state, state_checked_ms"
    };
}

/// A [`crate::RedemptionRow`] from a row of [`redemption_columns!`].
macro_rules! redemption_row {
    ($row:expr, $get:ident) => {
        $crate::RedemptionRow {
            account_id: $row.$get(0)?,
            product_id: $row.$get(1)?,
            receipt_sha256: $row.$get(2)?,
            first_verdict_id: $row.$get(3)?,
            first_seen_ms: $row.$get(4)?,
            last_seen_ms: $row.$get(5)?,
            revoked_at_ms: $row.$get(6)?,
            revoke_reason: $row.$get(7)?,
            expires_at_ms: $row.$get(8)?,
            subscription_state: $row.$get(9)?,
            state_checked_ms: $row.$get(10)?,
        }
    };
}

/// The columns of a [`crate::acks::Acknowledgement`], in the order [`ack_row!`] reads them.
macro_rules! ack_columns {
    () => {
        "id, store, app_id, transaction_key, product_id, purchase_token, action, purchased_ms, \
         created_ms, attempts, next_attempt_ms, state, last_error, finished_ms"
    };
}

/// A [`crate::acks::Acknowledgement`] from a row of [`ack_columns!`]; `$parse` turns a
/// `LedgerError` result into the driver's error.
macro_rules! ack_row {
    ($row:expr, $get:ident, $parse:expr) => {
        $crate::acks::Acknowledgement {
            id: $row.$get(0)?,
            store: $row.$get(1)?,
            app_id: $row.$get(2)?,
            transaction_key: $row.$get(3)?,
            product_id: $row.$get(4)?,
            purchase_token: $row.$get(5)?,
            action: $parse($crate::acks::AckAction::stored(&$row.$get::<_, String>(6)?))?,
            purchased_ms: $row.$get(7)?,
            created_ms: $row.$get(8)?,
            attempts: $row.$get(9)?,
            next_attempt_ms: $row.$get(10)?,
            state: $parse($crate::outbox::DeliveryState::stored(
                &$row.$get::<_, String>(11)?,
            ))?,
            last_error: $row.$get(12)?,
            finished_ms: $row.$get(13)?,
        }
    };
}

/// The columns of a [`crate::OwnedPurchase`], in the order [`owned_row!`] reads them.
macro_rules! owned_columns {
    () => {
        "store, transaction_key, product_id, kind, environment, first_seen_ms, expires_at_ms, \
         revoked_at_ms, subscription_state, will_renew"
    };
}

/// A [`crate::OwnedPurchase`] from a row of [`owned_columns!`].
macro_rules! owned_row {
    ($row:expr, $get:ident) => {
        $crate::OwnedPurchase {
            store: $row.$get(0)?,
            transaction_key: $row.$get(1)?,
            product_id: $row.$get(2)?,
            kind: $row.$get(3)?,
            environment: $row.$get(4)?,
            first_seen_ms: $row.$get(5)?,
            expires_at_ms: $row.$get(6)?,
            revoked_at_ms: $row.$get(7)?,
            subscription_state: $row.$get(8)?,
            will_renew: $row.$get(9)?,
        }
    };
}

/// The columns of a [`crate::outbox::Delivery`], in the order [`delivery_row!`] reads them.
macro_rules! outbox_columns {
    () => {
        "id, app_id, event_type, body, created_ms, age_from_ms, attempts, next_attempt_ms, state, \
         last_error, finished_ms"
    };
}

/// A [`crate::outbox::Delivery`] from a row of [`outbox_columns!`]; `$state` turns the stored
/// state text into a `DeliveryState` (or the driver's error).
macro_rules! delivery_row {
    ($row:expr, $get:ident, $state:expr) => {
        $crate::outbox::Delivery {
            id: $row.$get(0)?,
            app_id: $row.$get(1)?,
            event_type: $row.$get(2)?,
            body: $row.$get(3)?,
            created_ms: $row.$get(4)?,
            age_from_ms: $row.$get(5)?,
            attempts: $row.$get(6)?,
            next_attempt_ms: $row.$get(7)?,
            state: $state($row.$get::<_, String>(8)?)?,
            last_error: $row.$get(9)?,
            finished_ms: $row.$get(10)?,
        }
    };
}

/// The columns of a [`crate::notifications::NotificationRow`] (also those a notification is
/// inserted with), in the order [`notification_row!`] reads them.
macro_rules! notification_columns {
    () => {
        "store, notification_id, notification_type, subtype, environment, app_id, \
         transaction_key, signed_ms, received_ms, result"
    };
}

/// A [`crate::notifications::NotificationRow`] from a row of [`notification_columns!`].
macro_rules! notification_row {
    ($row:expr, $get:ident) => {
        $crate::notifications::NotificationRow {
            store: $row.$get(0)?,
            notification_id: $row.$get(1)?,
            notification_type: $row.$get(2)?,
            subtype: $row.$get(3)?,
            environment: $row.$get(4)?,
            app_id: $row.$get(5)?,
            transaction_key: $row.$get(6)?,
            signed_ms: $row.$get(7)?,
            received_ms: $row.$get(8)?,
            result: $row.$get(9)?,
        }
    };
}

/// The columns of a [`crate::notifications::RevocationRow`] (of a redemption row), in the
/// order [`revocation_row!`] reads them.
macro_rules! revocation_columns {
    () => {
        "store, app_id, transaction_key, account_id, product_id, revoked_at_ms, revoke_reason"
    };
}

/// A [`crate::notifications::RevocationRow`] from a row of [`revocation_columns!`] (a refusal
/// row's empty owner becomes `None`).
macro_rules! revocation_row {
    ($row:expr, $get:ident) => {{
        let account: String = $row.$get(3)?;
        $crate::notifications::RevocationRow {
            store: $row.$get(0)?,
            app_id: $row.$get(1)?,
            transaction_key: $row.$get(2)?,
            account_id: (account != $crate::UNREDEEMED_ACCOUNT).then_some(account),
            product_id: $row.$get(4)?,
            revoked_at_ms: $row.$get(5)?,
            reason: $row.$get(6)?,
        }
    }};
}

pub(crate) use {
    ack_columns, ack_row, delivery_row, notification_columns, notification_row, outbox_columns,
    owned_columns, owned_row, redemption_columns, redemption_row, revocation_columns,
    revocation_row,
};
