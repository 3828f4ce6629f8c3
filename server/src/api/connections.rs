//! The open client connections: how many there are (in all and per address), which of them are
//! idle, and closing them. A connection that does nothing must not hold a slot that a working
//! client needs:
//!
//! - until its first request, a connection has `request_timeout` (TLS handshake, protocol
//!   detection and request head included); between requests, `idle_timeout`. HTTP/2 pings and
//!   SETTINGS are not requests: an h2 connection with no open stream is idle.
//! - when every slot is taken, or an address holds all of its own, a new connection takes the
//!   slot of the connection idle the longest (of that address, for the per-address cap). Only
//!   when every connection is in the middle of a request does a new one wait (in all) or get
//!   closed (per address).
//!
//! A connection is busy from the moment its request reaches the router until its response
//! body is dropped (a streamed log keeps it busy).

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::sync::Notify;
// Tokio's clock, so that tests can pause it.
use tokio::time::Instant;

/// What one connection is doing, shared by its router (which marks requests) and its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    id: u64,
    address: IpAddr,
    opened: Instant,
    /// Requests (and streamed responses) in progress.
    busy: AtomicUsize,
    /// Requests begun so far.
    requests: AtomicU64,
    /// Milliseconds after `opened` when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Told to close: another connection needs its slot.
    evicted: Notify,
}

impl Activity {
    /// Marks a request begun; the guard marks it done when dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    /// Resolves when the connection has been idle too long, or was evicted: then it should
    /// close. Until its first request, the limit is `first`; after it, `between`.
    pub(crate) async fn expired(&self, first: Duration, between: Duration) {
        loop {
            let limit = if self.requests.load(Ordering::Relaxed) == 0 {
                first
            } else {
                between
            };
            // Busy: look again after a whole period (a request may last; it is not idle).
            let wake = if self.is_idle() {
                let deadline = self.idle_since() + limit;
                if Instant::now() >= deadline && self.is_idle() {
                    return;
                }
                deadline
            } else {
                Instant::now() + limit
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.evicted.notified() => return,
            }
        }
    }
}

/// A request in progress on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = u64::try_from(a.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.idle_since_ms.store(ms, Ordering::Release);
        a.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection busy until it is dropped.
pub(crate) struct Tracked<B> {
    body: B,
    _busy: Busy,
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, busy: Busy) -> Self {
        Self { body, _busy: busy }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Why a connection was not given a slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is busy: wait for one.
    Full,
    /// Every slot of this address is busy: close the new connection.
    AddressFull,
}

/// The slots of all open connections.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    per_address: usize,
    inner: Mutex<Inner>,
    /// A slot was freed.
    freed: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<Activity>>,
    per_address: HashMap<IpAddr, usize>,
}

impl Inner {
    /// Takes `id` out; false when it was already out (evicted).
    fn remove(&mut self, id: u64) -> bool {
        let Some(activity) = self.open.remove(&id) else {
            return false;
        };
        if let Some(n) = self.per_address.get_mut(&activity.address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&activity.address);
            }
        }
        metrics::gauge!("minkms_connections_open").set(self.open.len() as f64);
        true
    }

    /// Evicts the connection idle the longest (of `address` only, when given).
    fn evict(&mut self, address: Option<IpAddr>) -> bool {
        let victim = self
            .open
            .values()
            .filter(|a| a.is_idle() && address.is_none_or(|ip| a.address == ip))
            .min_by_key(|a| a.idle_since())
            .map(|a| a.id);
        let Some(id) = victim else { return false };
        if let Some(activity) = self.open.get(&id) {
            activity.evicted.notify_one();
        }
        metrics::counter!("minkms_connections_evicted_total").increment(1);
        self.remove(id)
    }
}

impl Slots {
    pub(crate) fn new(max: usize, per_address: usize) -> Self {
        Self {
            max: max.max(1),
            per_address: per_address.max(1),
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        }
    }

    /// A slot for a connection from `address`, evicting an idle connection when needed.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refused> {
        let mut inner = self.inner.lock();
        if inner.per_address.get(&address).copied().unwrap_or(0) >= self.per_address
            && !inner.evict(Some(address))
        {
            return Err(Refused::AddressFull);
        }
        if inner.open.len() >= self.max && !inner.evict(None) {
            return Err(Refused::Full);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let activity = Arc::new(Activity {
            id,
            address,
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            evicted: Notify::new(),
        });
        inner.open.insert(id, activity.clone());
        *inner.per_address.entry(address).or_default() += 1;
        metrics::gauge!("minkms_connections_open").set(inner.open.len() as f64);
        Ok(Slot {
            slots: self.clone(),
            activity,
        })
    }

    /// Waits until a slot may have been freed (or `limit` passed).
    pub(crate) async fn freed(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.freed.notified()).await;
    }

    /// Connections holding a slot.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.inner.lock().open.len()
    }
}

/// One connection's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    pub(crate) activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.slots.inner.lock().remove(self.activity.id) {
            self.slots.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_full_house_gives_the_slot_of_the_longest_idle_connection() {
        let slots = Arc::new(Slots::new(2, 10));
        let first = slots.admit(ip(1)).unwrap();
        let second = slots.admit(ip(1)).unwrap();
        // The first is busy: the second, idle, gives way.
        let busy = first.activity.begin();
        let third = slots.admit(ip(2)).unwrap();
        assert_eq!(slots.open(), 2);
        // Both left are busy now: a newcomer waits.
        let _also_busy = third.activity.begin();
        assert_eq!(slots.admit(ip(3)).unwrap_err(), Refused::Full);
        drop(busy);
        let fourth = slots.admit(ip(3)).unwrap();
        assert_eq!(slots.open(), 2);
        // Evicted slots are not given back twice.
        drop((second, first, fourth));
        assert_eq!(slots.open(), 1);
    }

    #[test]
    fn one_address_cannot_take_more_than_its_share() {
        let slots = Arc::new(Slots::new(100, 2));
        let a = slots.admit(ip(1)).unwrap();
        let b = slots.admit(ip(1)).unwrap();
        let busy = (a.activity.begin(), b.activity.begin());
        assert_eq!(slots.admit(ip(1)).unwrap_err(), Refused::AddressFull);
        // Other addresses are unaffected.
        let _c = slots.admit(ip(2)).unwrap();
        drop(busy);
        // Idle now: the address's own oldest idle connection gives way.
        let _d = slots.admit(ip(1)).unwrap();
        assert_eq!(slots.open(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_expire_and_busy_ones_do_not() {
        let slots = Arc::new(Slots::new(10, 10));
        let slot = slots.admit(ip(1)).unwrap();
        let a = slot.activity.clone();
        let started = Instant::now();
        a.expired(Duration::from_secs(2), Duration::from_secs(60))
            .await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));

        let busy = a.begin();
        let waited = tokio::time::timeout(
            Duration::from_secs(300),
            a.expired(Duration::from_secs(2), Duration::from_secs(60)),
        )
        .await;
        assert!(waited.is_err(), "a busy connection never expires");
        drop(busy);
        let started = Instant::now();
        a.expired(Duration::from_secs(2), Duration::from_secs(60))
            .await;
        assert!(started.elapsed() >= Duration::from_secs(59));
    }
}
