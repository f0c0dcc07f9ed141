//! The serving engine: many requests generated together, as vLLM does,
//! inside Zhishu's process.
//!
//! - [`blocks`]: KV blocks, block tables, the shared prefix cache;
//! - [`paged`]: the KV pool those blocks index, and attention read straight
//!   from it (the CPU kernel); [`reference`]: the same from candle ops, on
//!   any device; [`memory`]: one pool per part of the model, sized per
//!   device;
//! - [`scheduler`]: waiting/running queues, the per-step token budget
//!   (decodes first, then chunked prefill), admission by free blocks,
//!   preemption by recomputation;
//! - this module: the engine thread (the model runner) and
//!   [`Serving::submit`], the async API the HTTP layer calls.
//!
//! Why one thread owns the model and the scheduler: a step is one packed
//! forward pass over every scheduled sequence, so there is nothing to
//! share. Requests and events cross over channels; the HTTP workers never
//! wait on the model. A request whose receiver is dropped (its client went
//! away) is removed before the next step and its blocks freed.

pub mod blocks;
#[cfg(feature = "cuda")]
mod kernels;
pub mod memory;
pub mod metrics;
pub mod paged;
pub mod reference;
pub mod scheduler;

use crate::generate::{Accepted, TextStream};
use crate::model::{Logits, SeqInput};
use crate::sampling::{Sampler, SamplingParams};
use crate::{Engine, EngineError, FinishReason, Generation};
use blocks::BlockManager;
pub use memory::{AttentionPath, DeviceUse};
use metrics::ServingMetrics;
use paged::{KvPools, PagedSeq};
use scheduler::{Limits, Scheduler, Seq, Slot};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How the serving engine uses memory and batches work.
#[derive(Debug, Clone)]
pub struct ServingConfig {
    /// Bytes of KV cache (keys and values of every layer) per device.
    pub kv_cache_bytes: usize,
    /// Instead of `kv_cache_bytes`: this share of the memory each device
    /// has free when the engine starts (after the weights).
    pub kv_cache_fraction: Option<f64>,
    /// How attention reads the cache.
    pub attention: AttentionPath,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Tokens computed per step over all sequences (prefill chunks and
    /// decodes together).
    pub max_batch_tokens: usize,
    /// Sequences generating at once.
    pub max_running: usize,
    /// Requests that may wait beyond the `max_running` slots before new
    /// ones are refused.
    pub max_waiting: usize,
    /// Whether sequences share the KV blocks of a common prompt prefix.
    pub prefix_caching: bool,
    /// Usable context in tokens (prompt + answer); at most the model's.
    pub max_context: usize,
}

impl Default for ServingConfig {
    fn default() -> Self {
        Self {
            kv_cache_bytes: 1 << 30,
            kv_cache_fraction: None,
            attention: AttentionPath::Auto,
            block_size: 16,
            max_batch_tokens: 512,
            max_running: 32,
            max_waiting: 64,
            prefix_caching: true,
            max_context: usize::MAX,
        }
    }
}

/// What a request streams back.
#[derive(Debug)]
pub enum Event {
    /// New final text, and the tokens sampled since the last event (text
    /// may lag its tokens while a stop string is possible).
    Delta {
        /// Text.
        text: String,
        /// Token ids.
        token_ids: Vec<u32>,
    },
    /// Finished, with usage, timings and the finish reason (also after a
    /// cancellation).
    Done(Generation),
    /// Failed; nothing more follows.
    Failed(String),
}

/// A request on its way to the engine thread.
struct Incoming {
    prompt: Vec<u32>,
    params: SamplingParams,
    adapter: Option<usize>,
    events: UnboundedSender<Event>,
    submitted: Instant,
}

/// What the engine keeps per sequence besides its tokens and blocks.
struct Job {
    sampler: Sampler,
    stream: TextStream,
    events: UnboundedSender<Event>,
    prompt_tokens: usize,
    submitted: Instant,
    admitted: Option<Instant>,
    first_token: Option<Instant>,
    /// Sampled but not yet sent.
    unsent: Vec<u32>,
}

/// A handle to the serving engine; clones share it.
#[derive(Clone)]
pub struct Serving {
    tx: Sender<Incoming>,
    /// Requests submitted and not finished (running, waiting, or still on
    /// their way to the engine thread).
    in_flight: Arc<AtomicUsize>,
    max_running: usize,
    max_waiting: usize,
    capacity_tokens: usize,
    context: usize,
    /// LoRA adapters the model holds.
    adapters: usize,
    metrics: ServingMetrics,
    devices: Vec<DeviceUse>,
}

impl Serving {
    /// Sizes the KV pools from `config` (one per part of the model, on
    /// its device), then starts the engine thread.
    ///
    /// # Errors
    /// [`EngineError::Device`] when a device's budget holds less than one
    /// block or cannot be allocated; [`EngineError::Request`] when the
    /// thread cannot start.
    pub fn start(engine: Arc<Engine>, config: ServingConfig) -> Result<Self, EngineError> {
        let c = engine.model().config();
        let block_size = config.block_size.max(1);
        let memory::Plan {
            pools,
            blocks,
            devices,
        } = memory::plan(
            engine.parts(),
            block_size,
            config.kv_cache_bytes,
            config.kv_cache_fraction,
            config.attention,
        )?;
        let metrics = ServingMetrics::new()
            .map_err(|e| EngineError::Request(format!("engine metrics: {e}")))?;
        metrics.kv_blocks_total.set(blocks as i64);
        metrics.kv_capacity_tokens.set((blocks * block_size) as i64);
        for d in &devices {
            metrics
                .device_weight_bytes
                .with_label_values(&[d.device.as_str()])
                .set(d.weight_bytes as i64);
            metrics
                .device_kv_bytes
                .with_label_values(&[d.device.as_str()])
                .set(d.kv_bytes as i64);
        }
        let scheduler = Scheduler::new(
            BlockManager::new(blocks, block_size),
            Limits {
                max_batch_tokens: config.max_batch_tokens.max(1),
                max_running: config.max_running.max(1),
                prefix_caching: config.prefix_caching,
            },
        );
        let (tx, rx) = channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let context = config.max_context.min(c.max_context());
        let adapters = engine.model().adapters().len();
        let runner = Runner {
            engine,
            pools,
            device_names: devices.iter().map(|d| d.device.clone()).collect(),
            scheduler,
            in_flight: in_flight.clone(),
            metrics: metrics.clone(),
            context,
            arrivals: 0,
        };
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || runner.run(rx))
            .map_err(|e| EngineError::Request(format!("cannot start the engine thread: {e}")))?;
        for d in &devices {
            tracing::info!(
                device = %d.device,
                weight_bytes = d.weight_bytes,
                kv_bytes = d.kv_bytes,
                "engine device"
            );
        }
        tracing::info!(
            blocks,
            block_size,
            kv_tokens = blocks * block_size,
            max_batch_tokens = config.max_batch_tokens,
            max_running = config.max_running,
            "serving engine started"
        );
        Ok(Self {
            tx,
            in_flight,
            max_running: config.max_running.max(1),
            max_waiting: config.max_waiting,
            capacity_tokens: blocks * block_size,
            context,
            adapters,
            metrics,
            devices,
        })
    }

    /// What each device holds: weights and KV cache, in bytes.
    pub fn devices(&self) -> &[DeviceUse] {
        &self.devices
    }

    /// The engine's metrics (for the server's registry).
    pub fn metrics(&self) -> &ServingMetrics {
        &self.metrics
    }

    /// Tokens the KV pool holds.
    pub fn capacity_tokens(&self) -> usize {
        self.capacity_tokens
    }

    /// Queues a generation; its events arrive on the returned channel.
    /// Dropping the receiver cancels it (its blocks are freed before the
    /// next step).
    ///
    /// # Errors
    /// [`EngineError::Request`] for invalid parameters or a prompt that
    /// cannot fit the context or the KV pool even alone;
    /// [`EngineError::Busy`] when every running slot is taken and
    /// `max_waiting` requests already wait;
    /// [`EngineError::Stopped`] when the engine thread is gone.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        params: SamplingParams,
    ) -> Result<UnboundedReceiver<Event>, EngineError> {
        self.submit_with(prompt, params, None)
    }

    /// [`Serving::submit`] with a LoRA adapter of the model (an index from
    /// [`crate::Model::add_adapter`]; `None`: the model itself). Requests
    /// with different adapters share steps; their KV blocks are never
    /// shared through the prefix cache.
    ///
    /// # Errors
    /// As [`Serving::submit`]; [`EngineError::Request`] for an adapter the
    /// model does not hold.
    pub fn submit_with(
        &self,
        prompt: Vec<u32>,
        params: SamplingParams,
        adapter: Option<usize>,
    ) -> Result<UnboundedReceiver<Event>, EngineError> {
        params.validate()?;
        if let Some(a) = adapter
            && a >= self.adapters
        {
            return Err(EngineError::Request(format!(
                "no adapter {a}: the model holds {}",
                self.adapters
            )));
        }
        if prompt.is_empty() {
            return Err(EngineError::Request("the prompt is empty".into()));
        }
        if prompt.len() >= self.context {
            return Err(EngineError::Request(format!(
                "the prompt has {} tokens; the model's context is {}",
                prompt.len(),
                self.context
            )));
        }
        // A sequence must fit the pool alone, or it could never finish.
        let longest = (prompt.len() + params.max_new_tokens).min(self.context);
        if longest > self.capacity_tokens {
            return Err(EngineError::Request(format!(
                "this request may need {longest} tokens of KV cache but engine.kv_cache_bytes holds {}; lower max_tokens or raise engine.kv_cache_bytes",
                self.capacity_tokens
            )));
        }
        // Refused only when the queue beyond the running slots is full: a
        // burst that fits the slots is never turned away just because the
        // engine thread has not picked it up yet.
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if before >= self.max_running + self.max_waiting {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::Busy(before - self.max_running));
        }
        let (events, rx) = unbounded_channel();
        self.tx
            .send(Incoming {
                prompt,
                params,
                adapter,
                events,
                submitted: Instant::now(),
            })
            .map_err(|_| {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                EngineError::Stopped
            })?;
        Ok(rx)
    }
}

/// The engine thread's state.
struct Runner {
    engine: Arc<Engine>,
    /// One set of KV stores per tensor-parallel rank.
    pools: Vec<KvPools>,
    /// The devices, for per-device metrics.
    device_names: Vec<String>,
    scheduler: Scheduler<Job>,
    in_flight: Arc<AtomicUsize>,
    metrics: ServingMetrics,
    context: usize,
    arrivals: u64,
}

impl Runner {
    fn run(mut self, rx: Receiver<Incoming>) {
        loop {
            if self.scheduler.is_idle() {
                match rx.recv() {
                    Ok(r) => self.enqueue(r),
                    Err(_) => return,
                }
            }
            while let Ok(r) = rx.try_recv() {
                self.enqueue(r);
            }
            self.drop_cancelled();
            let plan = self.scheduler.schedule();
            if plan.is_empty() {
                if self.scheduler.running().is_empty()
                    && let Some(seq) = self.scheduler.pop_waiting()
                {
                    // Cannot happen after submit's size check; never spin.
                    self.fail(seq, "the request does not fit the KV cache".into());
                }
                self.observe();
                continue;
            }
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| self.step(&plan)));
            match ran {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.fail_planned(&plan, e.to_string()),
                Err(_) => self.fail_planned(&plan, "the engine panicked (see the log)".into()),
            }
            self.observe();
        }
    }

    /// A new request joins the scheduler's waiting queue.
    fn enqueue(&mut self, r: Incoming) {
        let job = Job {
            sampler: Sampler::new(r.params.clone(), &r.prompt),
            stream: TextStream::new(&r.params),
            events: r.events,
            prompt_tokens: r.prompt.len(),
            submitted: r.submitted,
            admitted: None,
            first_token: None,
            unsent: Vec::new(),
        };
        self.arrivals += 1;
        self.scheduler
            .add(Seq::new(self.arrivals, r.prompt, job).with_adapter(r.adapter));
    }

    /// Requests whose client went away: removed, blocks freed.
    fn drop_cancelled(&mut self) {
        let gone = self.scheduler.remove_where(|s| s.data.events.is_closed());
        for _ in gone {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.metrics
                .requests
                .with_label_values(&["cancelled"])
                .inc();
        }
    }

    /// One forward pass over the plan, then sampling and streaming.
    fn step(&mut self, plan: &[Slot]) -> Result<(), EngineError> {
        let now = Instant::now();
        self.metrics.step_sequences.observe(plan.len() as f64);
        for slot in plan {
            let job = &mut self.scheduler.running_mut(slot.index).data;
            job.admitted.get_or_insert(now);
        }
        let logits = {
            let running = self.scheduler.running();
            // The same sequences on every rank, each with that rank's
            // stores (its heads, or every stage's layers).
            let mut views: Vec<Vec<PagedSeq<'_>>> = self
                .pools
                .iter()
                .map(|pools| {
                    plan.iter()
                        .map(|s| {
                            let seq = &running[s.index];
                            PagedSeq::new(pools, &seq.blocks, seq.computed)
                        })
                        .collect()
                })
                .collect();
            let mut inputs: Vec<Vec<SeqInput<'_>>> = views
                .iter_mut()
                .map(|views| {
                    plan.iter()
                        .zip(views.iter_mut())
                        .map(|(s, view)| {
                            let seq = &running[s.index];
                            SeqInput {
                                tokens: &seq.tokens[seq.computed..seq.computed + s.tokens],
                                cache: view,
                                positions: None,
                                logits: if seq.samples_after(s.tokens) {
                                    Logits::Last
                                } else {
                                    Logits::None
                                },
                                adapter: seq.adapter,
                            }
                        })
                        .collect()
                })
                .collect();
            let batches = inputs.iter_mut().map(|b| &mut b[..]).collect();
            self.engine.parts().forward(batches)?
        };
        let mut finished = Vec::new();
        for (slot, logits) in plan.iter().zip(logits) {
            let samples = self.scheduler.running()[slot.index].samples_after(slot.tokens);
            self.scheduler.computed(*slot);
            if !samples {
                continue;
            }
            let mut logits = logits.to_vec1::<f32>()?;
            let seq = self.scheduler.running_mut(slot.index);
            let job = &mut seq.data;
            job.stream
                .suppress_stops(&mut logits, self.engine.eos_token_ids());
            let token = job.sampler.sample(&mut logits);
            let before = job.stream.len();
            let Accepted { mut text, finish } =
                job.stream
                    .accept(token, self.engine.tokenizer(), self.engine.eos_token_ids())?;
            let at = Instant::now();
            if job.first_token.is_none() {
                job.first_token = Some(at);
                self.metrics
                    .time_to_first_token
                    .observe((at - job.submitted).as_secs_f64());
            }
            self.metrics.generated_tokens.inc();
            let finish = match finish {
                None if seq.tokens.len() + 1 >= self.context => {
                    text.push_str(&job.stream.rest());
                    Some(FinishReason::Length)
                }
                f => f,
            };
            // A stop token ends the output without being part of it.
            if job.stream.len() > before {
                job.unsent.push(token);
            }
            if finish.is_none() {
                seq.tokens.push(token);
            }
            if !text.is_empty() || finish.is_some() {
                let token_ids = std::mem::take(&mut job.unsent);
                let _ = job.events.send(Event::Delta { text, token_ids });
            }
            if let Some(f) = finish {
                finished.push((slot.index, f));
            }
        }
        // `finish` returns the sequences in index order.
        finished.sort_unstable_by_key(|&(i, _)| i);
        let done = self
            .scheduler
            .finish(finished.iter().map(|&(i, _)| i).collect());
        for (seq, (_, reason)) in done.into_iter().zip(finished) {
            self.complete(seq, reason);
        }
        Ok(())
    }

    fn complete(&self, seq: Seq<Job>, finish: FinishReason) {
        let job = seq.data;
        let end = Instant::now();
        let admitted = job.admitted.unwrap_or(job.submitted);
        let first = job.first_token.unwrap_or(end);
        let (text, token_ids) = job.stream.into_parts();
        if token_ids.len() > 1 {
            self.metrics
                .time_per_output_token
                .observe((end - first).as_secs_f64() / (token_ids.len() - 1) as f64);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let reason = match finish {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
            FinishReason::ContentFilter => "content_filter",
        };
        self.metrics.requests.with_label_values(&[reason]).inc();
        let _ = job.events.send(Event::Done(Generation {
            text,
            token_ids,
            finish_reason: finish,
            prompt_tokens: job.prompt_tokens,
            queued_seconds: (admitted - job.submitted).as_secs_f64(),
            prefill_seconds: (first - admitted).as_secs_f64(),
            decode_seconds: (end - first).as_secs_f64(),
        }));
    }

    fn fail(&self, seq: Seq<Job>, message: String) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        tracing::error!(error = %message, "generation failed");
        self.metrics.requests.with_label_values(&["error"]).inc();
        let _ = seq.data.events.send(Event::Failed(message));
    }

    /// A failed step fails every sequence in it (their caches are in an
    /// unknown state); the others go on.
    fn fail_planned(&mut self, plan: &[Slot], message: String) {
        let failed = self
            .scheduler
            .finish(plan.iter().map(|s| s.index).collect());
        for seq in failed {
            self.fail(seq, message.clone());
        }
    }

    fn observe(&self) {
        let m = &self.metrics;
        let b = self.scheduler.blocks();
        m.queue_length.set(self.scheduler.waiting() as i64);
        m.running.set(self.scheduler.running().len() as i64);
        m.kv_blocks_used.set(b.used() as i64);
        for d in &self.device_names {
            m.device_kv_blocks_used
                .with_label_values(&[d.as_str()])
                .set(b.used() as i64);
        }
        let st = b.prefix_stats();
        let add = |c: &prometheus::IntCounter, v: u64| c.inc_by(v.saturating_sub(c.get()));
        add(&m.prefix_queried_tokens, st.queried_tokens);
        add(&m.prefix_hit_tokens, st.hit_tokens);
        add(&m.preemptions, self.scheduler.preemptions());
        if st.queried_tokens > 0 {
            m.prefix_hit_rate
                .set(st.hit_tokens as f64 / st.queried_tokens as f64);
        }
    }
}
