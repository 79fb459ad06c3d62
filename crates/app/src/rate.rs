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
        // A full bucket of three: three takes at once, then a wait for the next token.
        assert_eq!(take(limit, 3_000, 0, 0), Ok(2_000));
        assert_eq!(take(limit, 2_000, 0, 0), Ok(1_000));
        assert_eq!(take(limit, 1_000, 0, 0), Ok(0));
        assert_eq!(take(limit, 0, 0, 0), Err(1_000));
        assert_eq!(take(limit, 0, 0, 400), Err(600));
        assert_eq!(take(limit, 0, 0, 1_000), Ok(0));
        // Refilled up to the burst, no more.
        assert_eq!(take(limit, 0, 1_000, 100_000), Ok(2_000));
        // A clock behind the bucket's counts as no time.
        assert_eq!(take(limit, 0, 5_000, 4_000), Err(1_000));
        // Waits round up, so that asking again after the wait succeeds.
        let slow = RateLimit {
            burst: 1,
            refill_millis: 1_500,
        };
        assert_eq!(take(slow, 1, 0, 0), Err(1_499));
        assert_eq!(take(slow, 1, 0, 1_499), Ok(0));
    }
}
