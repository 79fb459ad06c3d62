//! Rate limits of the anonymous forms (the web form, sign-in link requests): a token bucket
//! per client address, in memory (per node), on the injected clock. (The chat's limits are
//! kept in the store, across nodes: `App::take_rate_token` and `App::open_chat_socket`.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

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
