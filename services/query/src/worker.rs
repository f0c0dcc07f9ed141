//! The engine's thread: generation requests wait in a bounded queue and run
//! one after another, off the async runtime, streaming text back.
//!
//! Why a bounded queue with a refusal instead of waiting: on a busy box an
//! unbounded queue turns into minutes of silence for every user; a full
//! queue answers at once ("busy, retry") and the client decides. Why the
//! cancellation check in the text callback: a client that goes away (a
//! closed browser tab, a stop button) frees the engine at the next token,
//! and a request whose client left while it waited is never started. The
//! serving scheduler of issue #10 replaces this one-at-a-time loop with
//! continuous batching behind the same `submit`.

use crate::QueryError;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use zhishu_engine::{Engine, Generation, SamplingParams};

/// What a generation streams back.
#[derive(Debug)]
pub enum GenEvent {
    /// New text.
    Text(String),
    /// Finished (also after a cancellation).
    Done(Generation),
    /// Failed.
    Failed(String),
}

struct Job {
    prompt: Vec<u32>,
    params: SamplingParams,
    events: UnboundedSender<GenEvent>,
}

/// A handle to the engine's thread; clones share it.
#[derive(Clone)]
pub struct GenerationWorker {
    tx: SyncSender<Job>,
    queue: usize,
}

impl GenerationWorker {
    /// Starts the thread with room for `queue` waiting requests.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(engine: Arc<Engine>, queue: usize) -> Result<Self, QueryError> {
        let (tx, rx) = sync_channel::<Job>(queue);
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                for job in rx {
                    if job.events.is_closed() {
                        continue;
                    }
                    let events = job.events.clone();
                    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        engine.generate_until(&job.prompt, &job.params, |piece| {
                            events.send(GenEvent::Text(piece.to_owned())).is_ok()
                        })
                    }));
                    let last = match run {
                        Ok(Ok(generation)) => GenEvent::Done(generation),
                        Ok(Err(e)) => GenEvent::Failed(e.to_string()),
                        Err(_) => GenEvent::Failed("the engine panicked (see the log)".into()),
                    };
                    let _ = job.events.send(last);
                }
            })
            .map_err(|e| QueryError::Invalid(format!("cannot start the engine thread: {e}")))?;
        Ok(Self { tx, queue })
    }

    /// Queues a generation; its events arrive on the returned channel.
    /// Dropping the receiver cancels it.
    ///
    /// # Errors
    /// [`QueryError::Busy`] when the queue is full, [`QueryError::Stopped`]
    /// when the thread is gone.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        params: SamplingParams,
    ) -> Result<UnboundedReceiver<GenEvent>, QueryError> {
        let (events, rx) = unbounded_channel();
        match self.tx.try_send(Job {
            prompt,
            params,
            events,
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(QueryError::Busy(self.queue)),
            Err(TrySendError::Disconnected(_)) => Err(QueryError::Stopped),
        }
    }
}
