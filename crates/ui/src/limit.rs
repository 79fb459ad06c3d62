//! Rate limits of the anonymous forms (the web form, sign-in link requests): a token bucket
//! per client address, in memory (per node), on the injected clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Up to `capacity` requests at once, then one more every `refill_millis`.
pub(crate) struct TokenBucket {
    capacity: f64,
    refill_millis: f64,
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl TokenBucket {
    pub(crate) fn new(capacity: u32, refill_millis: i64) -> TokenBucket {
        TokenBucket {
            capacity: f64::from(capacity),
            refill_millis: refill_millis.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`, or says after how many milliseconds the next one is there.
    pub(crate) fn take(&self, key: &str, now: i64) -> Result<(), i64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            // Forget the addresses whose buckets are full again.
            let (capacity, refill) = (self.capacity, self.refill_millis);
            buckets.retain(|_, (tokens, at)| *tokens + (now - *at) as f64 / refill < capacity);
        }
        let (tokens, at) = buckets
            .entry(key.to_string())
            .or_insert((self.capacity, now));
        let elapsed = (now - *at).max(0) as f64;
        *tokens = (*tokens + elapsed / self.refill_millis).min(self.capacity);
        *at = now.max(*at);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) * self.refill_millis).ceil() as i64)
        }
    }
}

/// How many sockets each client address holds open, up to a cap (per node, in memory).
pub(crate) struct OpenSockets {
    cap: u32,
    open: Mutex<HashMap<String, u32>>,
}

/// One open socket's place; dropping it gives the place back.
pub(crate) struct SocketSlot {
    sockets: Arc<OpenSockets>,
    client: String,
}

impl OpenSockets {
    pub(crate) fn new(cap: u32) -> OpenSockets {
        OpenSockets {
            cap: cap.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn cap(&self) -> u32 {
        self.cap
    }

    /// A place for one more socket of `client`, or `None` when it already holds `cap`.
    pub(crate) fn open(sockets: &Arc<OpenSockets>, client: &str) -> Option<SocketSlot> {
        let mut open = sockets.open.lock().ok()?;
        let count = open.entry(client.to_string()).or_insert(0);
        if *count >= sockets.cap {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            sockets: sockets.clone(),
            client: client.to_string(),
        })
    }

    /// Sockets open for `client` now.
    #[cfg(test)]
    fn count(&self, client: &str) -> u32 {
        self.open
            .lock()
            .map(|open| open.get(client).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.sockets.open.lock() {
            if let Some(count) = open.get_mut(&self.client) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&self.client);
                }
            }
        }
    }
}

/// The client's address as the server saw the connection ("unknown" when the server was not
/// started with connection info). Behind a reverse proxy that is the proxy's address.
pub(crate) struct ClientAddress(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_holds_at_most_the_cap_of_sockets_and_a_closed_one_frees_its_place() {
        let sockets = Arc::new(OpenSockets::new(2));
        let first = OpenSockets::open(&sockets, "a");
        let second = OpenSockets::open(&sockets, "a");
        assert!(first.is_some() && second.is_some(), "up to the cap");
        assert!(OpenSockets::open(&sockets, "a").is_none(), "over the cap");
        let other = OpenSockets::open(&sockets, "b");
        assert!(other.is_some(), "another address has its own places");
        drop(first);
        assert_eq!(sockets.count("a"), 1);
        let third = OpenSockets::open(&sockets, "a");
        assert!(third.is_some(), "a closed socket frees its place");
        drop((second, third, other));
        assert_eq!(sockets.count("a"), 0);
        assert_eq!(
            sockets.open.lock().map(|o| o.len()).unwrap_or(1),
            0,
            "nothing kept"
        );
    }

    #[test]
    fn a_bucket_allows_a_burst_then_one_per_refill_for_each_client() {
        let bucket = TokenBucket::new(3, 1_000);
        for _ in 0..3 {
            assert_eq!(bucket.take("a", 0), Ok(()));
        }
        assert_eq!(bucket.take("a", 0), Err(1_000));
        assert_eq!(bucket.take("a", 400), Err(600));
        assert_eq!(
            bucket.take("b", 400),
            Ok(()),
            "another client has its own bucket"
        );
        assert_eq!(bucket.take("a", 1_000), Ok(()));
        assert!(bucket.take("a", 1_000).is_err());
        assert_eq!(
            bucket.take("a", 10_000),
            Ok(()),
            "refilled, up to the capacity"
        );
        assert_eq!(bucket.take("a", 10_000), Ok(()));
        assert_eq!(bucket.take("a", 10_000), Ok(()));
        assert!(bucket.take("a", 10_000).is_err());
    }
}
