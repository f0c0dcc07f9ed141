//! Token-bucket rate limits per principal.
//!
//! Why two homes for the buckets: one process keeps them in memory (no
//! database round trip on every request); several query nodes behind a
//! load balancer must share them, or a client spread over N nodes gets N
//! times its limit. [`RateLimiter::shared`] keeps them in the database all
//! nodes use (PostgreSQL), one atomic statement per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zhishu_store::RateStore;

/// Buckets beyond this many are pruned of full (idle) ones, so memory stays
/// bounded however many keys call.
const PRUNE_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per key: `burst` requests at once, refilled at `per_minute`.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Buckets in the shared database, when every node must see the same.
    shared: Option<(Arc<dyn RateStore>, u32, u32)>,
}

impl RateLimiter {
    /// `per_minute` sustained, `burst` at once. A `per_minute` of 0 disables
    /// the limit.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The same limits with the buckets in `store`, shared by every node
    /// that uses it. Should the store fail, this node's own buckets apply
    /// meanwhile (the request then fails closed anyway if its audit record
    /// cannot be written).
    pub fn shared(per_minute: u32, burst: u32, store: Arc<dyn RateStore>) -> Self {
        Self {
            shared: Some((store, per_minute, burst)),
            ..Self::new(per_minute, burst)
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    ///
    /// # Errors
    /// The wait before a retry can succeed.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        if let Some((store, per_minute, burst)) = &self.shared {
            match store.take_token(key, *per_minute, *burst).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(wait),
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate limit unavailable; using this node's");
                }
            }
        }
        self.check_here(key)
    }

    /// [`RateLimiter::check`] on this node's buckets.
    fn check_here(&self, key: &str) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_separate_keys() {
        let limiter = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert!(limiter.check_here("alice").is_ok());
        }
        let wait = limiter.check_here("alice").unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check_here("bob").is_ok(), "buckets are per key");
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0, 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..1000 {
            assert!(rt.block_on(limiter.check("x")).is_ok());
        }
    }
}
