//! Prometheus metrics of the HTTP layer. Names start with `zhishu_`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The registry and the HTTP metrics. Domain crates register their own
/// metrics into [`Metrics::registry`].
#[derive(Clone)]
pub(crate) struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    pub readiness: IntGaugeVec,
    encoder: IntCounterVec,
    guard: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "zhishu_http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "zhishu_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new(
            "zhishu_http_requests_in_flight",
            "HTTP requests being served",
        )?;
        let readiness = IntGaugeVec::new(
            Opts::new(
                "zhishu_readiness",
                "1 when the store passed its last readiness check",
            ),
            &["check"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new("zhishu_build_info", "Build information"),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(readiness.clone()))?;
        let encoder = IntCounterVec::new(
            Opts::new(
                "zhishu_encoder_total",
                "Embedding worker counts: texts, truncated (cut at the model's limit), batches, padded_tokens, real_tokens",
            ),
            &["model", "count"],
        )?;
        registry.register(Box::new(build))?;
        registry.register(Box::new(encoder.clone()))?;
        let guard = IntCounterVec::new(
            Opts::new(
                "zhishu_guard_decisions_total",
                "Guard decisions applied in exchanges, by point (question, passage, answer, document), rule and action (flag, redact, block)",
            ),
            &["point", "rule", "action"],
        )?;
        registry.register(Box::new(guard.clone()))?;
        Ok(Self {
            guard,
            registry,
            requests,
            duration,
            in_flight,
            readiness,
            encoder,
        })
    }

    pub fn start(&self) {
        self.in_flight.inc();
    }

    pub fn finish(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Brings the encoder counters up to the worker's own counts.
    pub fn observe_encoder(&self, worker: &zhishu_encoders::EncoderWorker) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = worker.stats();
        for (name, value) in [
            ("texts", s.texts.load(Relaxed)),
            ("truncated", s.truncated.load(Relaxed)),
            ("batches", s.batches.load(Relaxed)),
            ("padded_tokens", s.padded_tokens.load(Relaxed)),
            ("real_tokens", s.real_tokens.load(Relaxed)),
        ] {
            let c = self.encoder.with_label_values(&[worker.name(), name]);
            c.inc_by(value.saturating_sub(c.get()));
        }
    }

    /// Brings the guard counters up to the guard's own counts.
    pub fn observe_guard(&self, guard: &zhishu_guard::Guard) {
        for (point, rule, action, n) in guard.decision_counts() {
            let c = self.guard.with_label_values(&[point, &rule, action]);
            c.inc_by(n.saturating_sub(c.get()));
        }
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
