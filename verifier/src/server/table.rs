//! The connection table: every open connection with its source and whether a request is in
//! progress. It admits a new connection, sheds an idle connection to make room, or refuses it
//! when every connection that could make room is busy. At the per-source cap the shed one is
//! that source's own longest-idle connection (a flood from one address behind carrier-grade
//! NAT sheds its silent connections, not the purchases of the players sharing the address);
//! at the global cap it is one of the source holding the most connections, the longest-idle
//! of them (so a flood from a few sources sheds its own connections, not a genuine client's,
//! and a flood from many sources sheds its older silent connections first). Pure bookkeeping:
//! the accept loop ([`super::listener`]) does the I/O.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::settings::ConnectionLimits;

/// What per-source limits count: an IPv4 address, or the /64 prefix of an IPv6 address (one
/// host usually owns a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SourceKey {
    /// An IPv4 address.
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
}

impl SourceKey {
    /// The key of `ip`.
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => SourceKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey::V4(u32::from(v4)),
                None => SourceKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its source has `max_connections_per_ip` open already, every one with a request in
    /// progress.
    PerSource,
    /// The table is full and every connection has a request in progress.
    Capacity,
}

impl Refused {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refused::PerSource => "per_ip",
            Refused::Capacity => "capacity",
        }
    }
}

/// Requests in progress on one connection and when it last became idle.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new(epoch: Instant, now: Instant) -> Self {
        Self {
            epoch,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(millis(epoch, now)),
        }
    }

    /// A request started; it ends when the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// Whether no request is in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Since when the connection has been idle (meaningful only while [`Self::is_idle`]).
    pub(crate) fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst))
    }

    /// When the connection times out if it stays idle (`now + idle` while a request runs).
    pub(crate) fn idle_deadline(&self, idle: Duration, now: Instant) -> Instant {
        if self.is_idle() {
            self.idle_since() + idle
        } else {
            now + idle
        }
    }
}

fn millis(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// One request in progress (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms
            .store(millis(a.epoch, Instant::now()), Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Entry {
    source: SourceKey,
    activity: Arc<Activity>,
    shed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    per_source: HashMap<SourceKey, usize>,
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&entry.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&entry.source);
            }
        }
        Some(entry)
    }

    /// The connection to shed: an idle one of the source holding the most connections (a
    /// flood's source before a genuine client's), the longest-idle of that source; with
    /// `only`, the longest-idle of that source's.
    fn victim(&self, only: Option<SourceKey>) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.activity.is_idle() && only.is_none_or(|s| s == e.source))
            .min_by_key(|(id, e)| {
                let held = self.per_source.get(&e.source).copied().unwrap_or(0);
                (std::cmp::Reverse(held), e.activity.idle_since(), **id)
            })
            .map(|(id, _)| *id)
    }
}

/// The open connections.
#[derive(Debug)]
pub(crate) struct Table {
    limits: ConnectionLimits,
    epoch: Instant,
    inner: Mutex<Inner>,
}

/// An admitted connection: its activity, its shed signal, and (when one had to make room) the
/// connection shed for it. Leaves the table when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    table: Arc<Table>,
    id: u64,
    /// Its requests in progress.
    pub(crate) activity: Arc<Activity>,
    /// Notified when the connection is shed.
    pub(crate) shed: Arc<Notify>,
    /// Whether another connection was shed to admit this one.
    pub(crate) shed_another: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.table.lock().remove(self.id);
    }
}

impl Table {
    /// An empty table enforcing `limits`.
    pub(crate) fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The table stays consistent even if a holder panicked (every update is one step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Admit a connection from `ip`, shedding an idle connection if its source is at its cap
    /// (one of that source's) or the table is full (see [`Inner::victim`]).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let source = SourceKey::of(ip);
        let now = Instant::now();
        let mut inner = self.lock();
        let per_source_limited = self.limits.max_connections_per_ip > 0
            && !(self.limits.per_ip_exempt_loopback && ip.to_canonical().is_loopback());
        let victim = if per_source_limited
            && inner.per_source.get(&source).copied().unwrap_or(0)
                >= self.limits.max_connections_per_ip
        {
            // Shedding one of its own leaves the total unchanged: the global cap holds too.
            Some(inner.victim(Some(source)).ok_or(Refused::PerSource)?)
        } else if inner.entries.len() >= self.limits.max_connections.max(1) {
            Some(inner.victim(None).ok_or(Refused::Capacity)?)
        } else {
            None
        };
        let mut shed_another = false;
        if let Some(entry) = victim.and_then(|id| inner.remove(id)) {
            entry.shed.notify_one();
            shed_another = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let activity = Arc::new(Activity::new(self.epoch, now));
        let shed = Arc::new(Notify::new());
        inner.entries.insert(
            id,
            Entry {
                source,
                activity: Arc::clone(&activity),
                shed: Arc::clone(&shed),
            },
        );
        *inner.per_source.entry(source).or_insert(0) += 1;
        Ok(Admitted {
            table: Arc::clone(self),
            id,
            activity,
            shed,
            shed_another,
        })
    }

    /// Shed an idle connection as [`Self::admit`] would (when the process runs out of file
    /// descriptors); whether there was one.
    pub(crate) fn shed_one(&self) -> bool {
        let mut inner = self.lock();
        match inner.victim(None).and_then(|id| inner.remove(id)) {
            Some(entry) => {
                entry.shed.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, exempt: bool) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            per_ip_exempt_loopback: exempt,
            ..ConnectionLimits::default()
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const LOOP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn ipv6_sources_count_by_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(SourceKey::of(a), SourceKey::of(b));
        assert_ne!(SourceKey::of(a), SourceKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(SourceKey::of(mapped), SourceKey::of(A));
    }

    #[test]
    fn per_source_cap_sheds_that_sources_longest_idle_and_refuses_when_all_are_busy() {
        let table = Table::new(limits(10, 2, false));
        let _b = table.admit(B).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let a1 = table.admit(A).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let a2 = table.admit(A).unwrap();
        // A is at its cap: its own longest-idle connection goes, not B's older one.
        let a3 = table.admit(A).unwrap();
        assert!(a3.shed_another);
        futures_now(a1.shed.notified());
        assert_eq!(table.len(), 3);
        // Both of A's connections busy: refused, and B is never shed for A.
        let _busy2 = a2.activity.begin();
        let _busy3 = a3.activity.begin();
        assert_eq!(table.admit(A).unwrap_err(), Refused::PerSource);
        assert_eq!(table.len(), 3);
        let _b2 = table.admit(B).unwrap();
        drop(a1); // already removed: dropping it changes nothing
        drop(_busy2);
        drop(a2);
        let _a4 = table.admit(A).unwrap();
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn loopback_exemption_is_off_unless_set() {
        let strict = Table::new(limits(10, 1, false));
        let l = strict.admit(LOOP).unwrap();
        let _busy = l.activity.begin();
        assert_eq!(strict.admit(LOOP).unwrap_err(), Refused::PerSource);
        let exempt = Table::new(limits(10, 1, true));
        let _l1 = exempt.admit(LOOP).unwrap();
        let _l2 = exempt.admit(LOOP).unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let _l3 = exempt.admit(mapped).unwrap();
        let _l4 = exempt.admit("::1".parse().unwrap()).unwrap();
        let a = exempt.admit(A).unwrap();
        let _busy_a = a.activity.begin();
        assert_eq!(exempt.admit(A).unwrap_err(), Refused::PerSource);
    }

    #[test]
    fn a_full_table_sheds_an_idle_one_and_refuses_when_all_are_busy() {
        let table = Table::new(limits(2, 0, false));
        let first = table.admit(A).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = table.admit(B).unwrap();
        // The first is busy: the second (idle) is shed for the third.
        let busy = first.activity.begin();
        let third = table.admit(A).unwrap();
        assert!(third.shed_another);
        assert_eq!(table.len(), 2);
        // The shed one was signalled (a stored permit: notified() completes at once).
        futures_now(second.shed.notified());
        // Both remaining are busy: refused.
        let _busy3 = third.activity.begin();
        assert_eq!(table.admit(B).unwrap_err(), Refused::Capacity);
        drop(busy);
        let fourth = table.admit(B).unwrap();
        assert!(fourth.shed_another);
        drop(second); // already removed: dropping it changes nothing
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn the_source_holding_most_connections_is_shed_first() {
        let table = Table::new(limits(4, 0, false));
        let genuine = table.admit(A).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let flood: Vec<_> = (0..3).map(|_| table.admit(B).unwrap()).collect();
        // The genuine connection is the longest idle, but B holds three.
        let _new = table.admit(A).unwrap();
        futures_now(flood[0].shed.notified());
        // Now A and B hold two each: the longest idle of them goes (A's first one).
        let _new2 = table.admit(B).unwrap();
        futures_now(genuine.shed.notified());
    }

    #[test]
    fn shedding_follows_idle_time_not_age() {
        let table = Table::new(limits(2, 0, false));
        let old = table.admit(A).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let young = table.admit(B).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        // The old connection just finished a request: it is idle for less time.
        drop(old.activity.begin());
        let _new = table.admit(A).unwrap();
        futures_now(young.shed.notified());
        assert!(table.shed_one());
        futures_now(old.shed.notified());
    }

    /// Poll a future once; it must be ready.
    fn futures_now<F: std::future::Future>(f: F) {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        assert!(f.as_mut().poll(&mut cx).is_ready(), "not signalled");
    }
}
