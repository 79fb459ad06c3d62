//! Rate limits shared by every node: a token bucket per key, kept in the store
//! (`rate_buckets`), so that a client who spreads requests over several nodes gets no more
//! than from one. The arithmetic is [`take`]; [`App::take_rate_token`] runs it on the stored
//! bucket in one transaction.

use crate::{App, Result};

/// A bucket of up to `burst` tokens that gains one every `refill_millis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub refill_millis: i64,
}

impl RateLimit {
    fn full_milli(self) -> i64 {
        i64::from(self.burst.max(1)) * 1_000
    }
}

/// A take from a bucket that held `tokens_milli` (thousandths of a token) at `updated_at`:
/// `Ok(tokens left)`, or `Err(milliseconds until a token is there)`. Time going backwards
/// (another node's clock) counts as no time.
pub(crate) fn take(
    limit: RateLimit,
    tokens_milli: i64,
    updated_at: i64,
    now: i64,
) -> std::result::Result<i64, i64> {
    let refill = limit.refill_millis.max(1);
    let elapsed = (now - updated_at).max(0);
    let gained = elapsed.saturating_mul(1_000) / refill;
    let tokens = tokens_milli.saturating_add(gained).min(limit.full_milli());
    if tokens >= 1_000 {
        Ok(tokens - 1_000)
    } else {
        // Round up, so that asking again after the wait succeeds.
        Err(((1_000 - tokens) * refill + 999) / 1_000)
    }
}

impl App {
    /// Takes a token from the bucket `key` (e.g. `chat-start:<address>`), shared by every
    /// node: `Ok(Ok(()))`, or `Ok(Err(wait))` with the milliseconds until the next token.
    pub async fn take_rate_token(
        &self,
        key: &str,
        limit: RateLimit,
        now: i64,
    ) -> Result<std::result::Result<(), i64>> {
        let key: String = key.chars().take(200).collect();
        let mut tx = self.store.begin().await?;
        let (tokens, updated_at) = tx.hold_rate_bucket(&key, limit.full_milli(), now).await?;
        match take(limit, tokens, updated_at, now) {
            Ok(left) => {
                let refill = limit.refill_millis.max(1);
                let full_at = now + (limit.full_milli() - left) * refill / 1_000;
                tx.put_rate_bucket(&key, left, now.max(updated_at), full_at)
                    .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }
            Err(wait) => {
                tx.rollback().await?;
                Ok(Err(wait))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_one_per_refill() {
        let limit = RateLimit {
            burst: 3,
            refill_millis: 1_000,
        };
        let mut tokens = limit.full_milli();
        let mut at = 0;
        for _ in 0..3 {
            tokens = take(limit, tokens, at, 0).unwrap();
            at = 0;
        }
        assert_eq!(take(limit, tokens, at, 0), Err(1_000));
        assert_eq!(take(limit, tokens, at, 400), Err(600));
        tokens = take(limit, tokens, at, 1_000).unwrap();
        at = 1_000;
        assert!(take(limit, tokens, at, 1_000).is_err());
        // Refilled up to the burst, no more.
        let full = take(limit, tokens, at, 100_000).unwrap();
        assert_eq!(full, 2_000);
        // A clock behind the bucket's counts as no time.
        assert_eq!(take(limit, 0, 5_000, 4_000), Err(1_000));
    }
}
