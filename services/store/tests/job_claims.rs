//! Property: the job lease protocol, run against a model.
//!
//! Random interleavings of three workers claiming (with a lease that stays
//! or one that has already run out: the worker died), renewing, finishing,
//! and a user cancelling, on SQLite and PostgreSQL. After every step the
//! store must agree with a small model of the protocol: one holder at a
//! time, only the latest claimant renews or writes, nothing is claimed
//! after a cancel, and a job is claimed at most three times before it is
//! given up. The hand-written cases in `repository.rs` walk one path each;
//! this walks the ones nobody thought to write.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use zhishu_store::testing::TestDb;
use zhishu_store::{JobProgress, JobStatus, JobStore, Lease, StoreError};

/// Claims of one job before it is given up (the store's `MAX_ATTEMPTS`).
const MAX_ATTEMPTS: i64 = 3;
const WORKERS: [&str; 3] = ["node-a", "node-b", "node-c"];

#[derive(Debug, Clone)]
enum Op {
    /// A worker asks for work; `dies` gives it a lease that has already run
    /// out, as if it stopped right after claiming.
    Claim { worker: usize, dies: bool },
    /// A worker renews; `dies` lets the lease run out right after.
    Renew { worker: usize, dies: bool },
    /// A worker reports the job finished.
    Finish { worker: usize },
    /// A user asks the job to stop.
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, any::<bool>()).prop_map(|(worker, dies)| Op::Claim { worker, dies }),
        3 => (0..3usize, any::<bool>()).prop_map(|(worker, dies)| Op::Renew { worker, dies }),
        1 => (0..3usize).prop_map(|worker| Op::Finish { worker }),
        1 => Just(Op::Cancel),
    ]
}

/// What the protocol says the job is.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    status: JobStatus,
    holder: Option<usize>,
    lease_live: bool,
    attempts: i64,
    cancel: bool,
}

impl Model {
    fn new() -> Self {
        Model {
            status: JobStatus::Queued,
            holder: None,
            lease_live: false,
            attempts: 0,
            cancel: false,
        }
    }

    /// What a claim by `worker` gets: whether it takes the job. The store
    /// first ends a running job whose lease ran out (cancelled when asked
    /// to stop, failed once its attempts are spent), then claims.
    fn claim(&mut self, worker: usize, dies: bool) -> bool {
        if self.status == JobStatus::Running && !self.lease_live {
            if self.cancel {
                self.status = JobStatus::Cancelled;
            } else if self.attempts >= MAX_ATTEMPTS {
                self.status = JobStatus::Failed;
            }
        }
        let free = self.status == JobStatus::Queued
            || (self.status == JobStatus::Running && !self.lease_live);
        if !free || self.cancel {
            return false;
        }
        self.status = JobStatus::Running;
        self.holder = Some(worker);
        self.lease_live = !dies;
        self.attempts += 1;
        true
    }

    fn holds(&self, worker: usize) -> bool {
        self.status == JobStatus::Running && self.holder == Some(worker)
    }
}

async fn check(db: &TestDb, ops: &[Op]) -> Result<(), TestCaseError> {
    let s = &db.store;
    let job = s
        .enqueue_job("/srv/p", "handbook", &[], "alice", "{}")
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let result = walk(db, &job.id, ops).await;
    // Whatever happened, end the job so that later cases never claim it.
    s.update_job(
        &job.id,
        None,
        JobStatus::Succeeded,
        &JobProgress::default(),
        None,
    )
    .await
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    result
}

async fn walk(db: &TestDb, id: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let s = &db.store;
    let fail = |e: StoreError| TestCaseError::fail(e.to_string());
    let lease = |dies: bool| if dies { -1 } else { 60_000 };
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Claim { worker, dies } => {
                let got = s
                    .claim_job(WORKERS[worker], lease(dies))
                    .await
                    .map_err(fail)?;
                let want = model.claim(worker, dies);
                prop_assert_eq!(got.is_some(), want, "step {}: claim by {}", step, worker);
                if let Some(claimed) = got {
                    prop_assert_eq!(&claimed.record.id, id);
                    prop_assert_eq!(claimed.spec.as_str(), "{}");
                }
            }
            Op::Renew { worker, dies } => {
                let got = s
                    .renew_job(id, WORKERS[worker], lease(dies))
                    .await
                    .map_err(fail)?;
                let want = if model.holds(worker) {
                    model.lease_live = !dies;
                    Lease::Held {
                        cancel: model.cancel,
                    }
                } else {
                    Lease::Lost
                };
                prop_assert_eq!(got, want, "step {}: renew by {}", step, worker);
            }
            Op::Finish { worker } => {
                let got = s
                    .update_job(
                        id,
                        Some(WORKERS[worker]),
                        JobStatus::Succeeded,
                        &JobProgress::default(),
                        None,
                    )
                    .await;
                if model.holds(worker) {
                    prop_assert!(got.is_ok(), "step {}: the holder finishes: {:?}", step, got);
                    model.status = JobStatus::Succeeded;
                } else {
                    prop_assert!(
                        matches!(got, Err(StoreError::NotFound { .. })),
                        "step {}: {} does not hold the job, yet wrote: {:?}",
                        step,
                        worker,
                        got
                    );
                }
            }
            Op::Cancel => {
                s.request_cancel(id).await.map_err(fail)?;
                model.cancel = true;
                if model.status == JobStatus::Queued {
                    model.status = JobStatus::Cancelled;
                }
            }
        }
        let record = s.job(id).await.map_err(fail)?;
        prop_assert_eq!(record.status, model.status, "step {}: status", step);
        prop_assert_eq!(record.attempts, model.attempts, "step {}: attempts", step);
        prop_assert!(record.attempts <= MAX_ATTEMPTS);
        if record.status == JobStatus::Running {
            let holder = model.holder.map(|w| WORKERS[w].to_string());
            prop_assert_eq!(record.worker, holder, "step {}: one holder", step);
        }
        if model.cancel {
            prop_assert!(record.cancel_requested);
        }
    }
    Ok(())
}

fn run(db: TestDb, rt: &tokio::runtime::Runtime) {
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..24), |ops| {
        rt.block_on(check(&db, &ops))
    });
    rt.block_on(db.cleanup());
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn leases_follow_the_protocol_on_sqlite() {
    let rt = runtime();
    let db = rt.block_on(zhishu_store::testing::sqlite());
    run(db, &rt);
}

#[test]
fn leases_follow_the_protocol_on_postgres() {
    let rt = runtime();
    if let Some(db) = rt.block_on(zhishu_store::testing::postgres()) {
        run(db, &rt);
    }
}
