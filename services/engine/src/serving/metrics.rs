//! The serving engine's Prometheus metrics. The server registers them in
//! its registry, so `/metrics` shows them beside the HTTP ones.

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// Collectors updated by the engine thread.
#[derive(Clone)]
pub struct ServingMetrics {
    /// Seconds from submission to the first generated token.
    pub time_to_first_token: Histogram,
    /// Seconds per generated token after the first.
    pub time_per_output_token: Histogram,
    /// Requests waiting to be admitted (new or preempted).
    pub queue_length: IntGauge,
    /// Sequences in the running batch.
    pub running: IntGauge,
    /// KV blocks held by sequences.
    pub kv_blocks_used: IntGauge,
    /// KV blocks in the pool.
    pub kv_blocks_total: IntGauge,
    /// Tokens the KV pool holds.
    pub kv_capacity_tokens: IntGauge,
    /// Bytes of model weights per device.
    pub device_weight_bytes: IntGaugeVec,
    /// Bytes of KV cache per device.
    pub device_kv_bytes: IntGaugeVec,
    /// KV blocks held by sequences, per device (every device holds its
    /// layers or heads of the same blocks).
    pub device_kv_blocks_used: IntGaugeVec,
    /// Prompt tokens looked up in the prefix cache.
    pub prefix_queried_tokens: IntCounter,
    /// Prompt tokens found there.
    pub prefix_hit_tokens: IntCounter,
    /// Hit tokens ÷ queried tokens since start.
    pub prefix_hit_rate: Gauge,
    /// Sequences preempted for lack of KV blocks.
    pub preemptions: IntCounter,
    /// Tokens generated.
    pub generated_tokens: IntCounter,
    /// Finished requests by finish reason (stop, length, cancelled, error).
    pub requests: IntCounterVec,
    /// Sequences in each engine step (continuous batching at work).
    pub step_sequences: Histogram,
}

impl ServingMetrics {
    /// New collectors (registered by [`ServingMetrics::register`]).
    ///
    /// # Errors
    /// Only on an invalid metric definition (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        };
        Ok(Self {
            time_to_first_token: histogram(
                "zhishu_engine_time_to_first_token_seconds",
                "Seconds from a request's submission to its first token (queue + prefill)",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0],
            )?,
            time_per_output_token: histogram(
                "zhishu_engine_time_per_output_token_seconds",
                "Seconds per generated token after the first, per request",
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            )?,
            queue_length: IntGauge::new(
                "zhishu_engine_queue_length",
                "Requests waiting to be admitted (new or preempted)",
            )?,
            running: IntGauge::new(
                "zhishu_engine_running_sequences",
                "Sequences in the running batch",
            )?,
            kv_blocks_used: IntGauge::new(
                "zhishu_engine_kv_blocks_used",
                "KV cache blocks held by sequences",
            )?,
            kv_blocks_total: IntGauge::new(
                "zhishu_engine_kv_blocks_total",
                "KV cache blocks in the pool",
            )?,
            kv_capacity_tokens: IntGauge::new(
                "zhishu_engine_kv_capacity_tokens",
                "Tokens the KV cache holds (blocks x block size)",
            )?,
            device_weight_bytes: IntGaugeVec::new(
                Opts::new(
                    "zhishu_engine_device_weight_bytes",
                    "Bytes of model weights on each device",
                ),
                &["device"],
            )?,
            device_kv_bytes: IntGaugeVec::new(
                Opts::new(
                    "zhishu_engine_device_kv_cache_bytes",
                    "Bytes of KV cache on each device",
                ),
                &["device"],
            )?,
            device_kv_blocks_used: IntGaugeVec::new(
                Opts::new(
                    "zhishu_engine_device_kv_blocks_used",
                    "KV cache blocks held by sequences on each device",
                ),
                &["device"],
            )?,
            prefix_queried_tokens: IntCounter::new(
                "zhishu_engine_prefix_cache_queried_tokens_total",
                "Prompt tokens looked up in the prefix cache",
            )?,
            prefix_hit_tokens: IntCounter::new(
                "zhishu_engine_prefix_cache_hit_tokens_total",
                "Prompt tokens found in the prefix cache (not recomputed)",
            )?,
            prefix_hit_rate: Gauge::new(
                "zhishu_engine_prefix_cache_hit_rate",
                "Prefix cache hit tokens / queried tokens since start",
            )?,
            preemptions: IntCounter::new(
                "zhishu_engine_preemptions_total",
                "Sequences preempted (recomputed later) for lack of KV blocks",
            )?,
            generated_tokens: IntCounter::new(
                "zhishu_engine_generated_tokens_total",
                "Tokens generated",
            )?,
            requests: IntCounterVec::new(
                Opts::new(
                    "zhishu_engine_requests_total",
                    "Finished generation requests by finish reason",
                ),
                &["finish_reason"],
            )?,
            step_sequences: histogram(
                "zhishu_engine_step_sequences",
                "Sequences computed together in one engine step",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
            )?,
        })
    }

    /// Registers every collector in `registry`.
    ///
    /// # Errors
    /// When a metric of the same name is already registered there.
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.time_to_first_token.clone()))?;
        registry.register(Box::new(self.time_per_output_token.clone()))?;
        registry.register(Box::new(self.queue_length.clone()))?;
        registry.register(Box::new(self.running.clone()))?;
        registry.register(Box::new(self.kv_blocks_used.clone()))?;
        registry.register(Box::new(self.kv_blocks_total.clone()))?;
        registry.register(Box::new(self.kv_capacity_tokens.clone()))?;
        registry.register(Box::new(self.device_weight_bytes.clone()))?;
        registry.register(Box::new(self.device_kv_bytes.clone()))?;
        registry.register(Box::new(self.device_kv_blocks_used.clone()))?;
        registry.register(Box::new(self.prefix_queried_tokens.clone()))?;
        registry.register(Box::new(self.prefix_hit_tokens.clone()))?;
        registry.register(Box::new(self.prefix_hit_rate.clone()))?;
        registry.register(Box::new(self.preemptions.clone()))?;
        registry.register(Box::new(self.generated_tokens.clone()))?;
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.step_sequences.clone()))?;
        Ok(())
    }
}
