//! The job queue, in the database, for any number of worker processes: a job is claimed with a
//! lease that its worker renews (the heartbeat); a job whose lease ran out (its worker died or
//! hung) is claimed again, up to `max_attempts` times, then failed with a message (a poison
//! input must not take workers down forever). Finishing a job checks that the worker still
//! holds it, in the transaction that stores its results: a worker that lost its lease stores
//! nothing.
//!
//! The claim is one `UPDATE ... RETURNING`: SQLite has a single writer, so two claimers never
//! get the same job; on PostgreSQL the job is picked `FOR UPDATE SKIP LOCKED`, so claimers
//! in any number of processes take different jobs without waiting for each other.
//!
//! Claims are fair across the jobs' authors, round robin: the author with the fewest jobs
//! running goes first, then the one whose last job started longest ago, then the oldest job.
//! One user's thousand queued jobs thus take turns with another's one, and an author at
//! `max_running_per_user` waits while others' jobs run.

use crate::storage::results::{NewResult, status};
use crate::storage::{Store, StoreError, db, int, text, uuid_col};

/// A claimed job.
#[derive(Clone, Debug)]
pub struct Job {
    pub uuid: uuid::Uuid,
    pub task: uuid::Uuid,
    pub item: uuid::Uuid,
    pub attempts: i64,
    /// The task's author (a user uuid; empty for the API token's admin): who hears its events.
    pub author: String,
    /// When this worker claimed it (its run time is stored when it finishes).
    pub claimed_at: std::time::Instant,
}

/// What a heartbeat found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lease {
    Held,
    /// The task was cancelled: stop, store nothing.
    Cancelled,
    /// Another worker has the job now (this one was too slow to renew): stop, store nothing.
    Lost,
}

#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// How long a claim lasts without a heartbeat.
    pub lease_s: f64,
    /// Claims of one job (a worker died each time) before it is failed.
    pub max_attempts: i64,
    /// Jobs of one author running at once, whatever the number of workers; 0: no limit.
    pub max_running_per_user: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { lease_s: 30.0, max_attempts: 3, max_running_per_user: 0 }
    }
}

/// Fails the jobs whose lease ran out `max_attempts` times; returns their tasks.
pub async fn fail_abandoned(store: &Store, config: &QueueConfig) -> Result<Vec<uuid::Uuid>, StoreError> {
    let rows = sqlx::query(
        "UPDATE jobs SET status = 'failed', date_finished = $3,
            error = 'gave up after ' || attempts || ' attempts: each time its worker stopped (crashed or was killed) before finishing'
         WHERE status = 'running' AND lease_expires < $1 AND attempts >= $2
         RETURNING task",
    )
    .bind(db::unix_now())
    .bind(config.max_attempts)
    .bind(db::now())
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.iter().map(|r| uuid_col(r, "task")).collect())
}

/// Claims the oldest runnable job for `owner`: a pending one, or a running one whose lease
/// ran out (its worker is gone).
pub async fn claim(store: &Store, owner: &str, config: &QueueConfig) -> Result<Option<Job>, StoreError> {
    let now = db::unix_now();
    let lock = match store.engine {
        db::Engine::Postgres => "FOR UPDATE OF j SKIP LOCKED",
        db::Engine::Sqlite => "",
    };
    // The author's jobs running now (their leases still held).
    let running =
        "(SELECT COUNT(*) FROM jobs r WHERE r.author = j.author AND r.status = 'running' AND r.lease_expires >= $4)";
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires = $2, attempts = attempts + 1,
            date_started = COALESCE(date_started, $3)
         WHERE uuid = (
            SELECT j.uuid FROM jobs j
            WHERE (j.status = 'pending' OR (j.status = 'running' AND j.lease_expires < $4)) AND j.attempts < $5
              AND ($6 = 0 OR {running} < $6)
            ORDER BY {running},
              COALESCE((SELECT MAX(s.date_started) FROM jobs s WHERE s.author = j.author), ''),
              j.date_added
            LIMIT 1 {lock})
         AND (status = 'pending' OR (status = 'running' AND lease_expires < $4))
         RETURNING uuid, task, item, attempts, author"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner.to_string())
        .bind(now + config.lease_s)
        .bind(db::now())
        .bind(now)
        .bind(config.max_attempts)
        .bind(config.max_running_per_user)
        .fetch_optional(&store.pool)
        .await?;
    Ok(row.map(|r| Job {
        uuid: uuid_col(&r, "uuid"),
        task: uuid_col(&r, "task"),
        item: uuid_col(&r, "item"),
        attempts: int(&r, "attempts"),
        author: text(&r, "author"),
        claimed_at: std::time::Instant::now(),
    }))
}

/// Renews `owner`'s lease on `job` and records its progress.
pub async fn heartbeat(
    store: &Store,
    job: &Job,
    owner: &str,
    config: &QueueConfig,
    progress: f64,
) -> Result<Lease, StoreError> {
    let renewed = sqlx::query(
        "UPDATE jobs SET lease_expires = $3, progress = $4 WHERE uuid = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(job.uuid.to_string())
    .bind(owner.to_string())
    .bind(db::unix_now() + config.lease_s)
    .bind(progress)
    .execute(&store.pool)
    .await?;
    if renewed.rows_affected() > 0 {
        return Ok(Lease::Held);
    }
    let row = sqlx::query("SELECT status FROM jobs WHERE uuid = $1")
        .bind(job.uuid.to_string())
        .fetch_optional(&store.pool)
        .await?;
    Ok(match row.map(|r| text(&r, "status")) {
        Some(s) if s == status::CANCELLED => Lease::Cancelled,
        None => Lease::Cancelled,
        _ => Lease::Lost,
    })
}

/// Ends `job` as `outcome` (`done` or `failed`, with `error`) and stores its `results`, all in
/// one transaction and only if `owner` still holds the job. Returns the results' ids, or
/// `None` if the job was no longer this worker's (nothing stored).
pub async fn finish(
    store: &Store,
    job: &Job,
    owner: &str,
    outcome: &'static str,
    error: &str,
    results: &[NewResult],
) -> Result<Option<Vec<uuid::Uuid>>, StoreError> {
    let mut tx = store.pool.begin().await?;
    let ended = sqlx::query(
        "UPDATE jobs SET status = $3, error = $4, progress = 1, date_finished = $5, lease_expires = NULL,
            run_seconds = $6
         WHERE uuid = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(job.uuid.to_string())
    .bind(owner.to_string())
    .bind(outcome)
    .bind(error.to_string())
    .bind(db::now())
    .bind(job.claimed_at.elapsed().as_secs_f64())
    .execute(&mut *tx)
    .await?;
    if ended.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(results.len());
    for r in results {
        ids.push(Store::put_result(&mut *tx, r).await?);
    }
    tx.commit().await?;
    Ok(Some(ids))
}

/// Puts a job this worker holds back in the queue, as if never claimed (the server stops).
pub async fn release(store: &Store, job: &Job, owner: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires = NULL, progress = 0,
            attempts = attempts - 1
         WHERE uuid = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(job.uuid.to_string())
    .bind(owner.to_string())
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The queue as `/metrics` shows it, read from the database (so it counts every worker
/// process, wherever it runs).
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Jobs by status (`pending` is the queue's depth).
    pub jobs: Vec<(String, i64)>,
    /// Finished jobs' run times: how many took at most each of [`DURATION_BUCKETS`], then
    /// the count and the sum of all.
    pub durations_le: Vec<i64>,
    pub durations_count: i64,
    pub durations_sum: f64,
    /// Stored results by processor and status (`failed`: failures per processor).
    pub results: Vec<(String, String, i64)>,
}

/// Upper bounds (seconds) of the job duration histogram.
pub const DURATION_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0];

pub async fn stats(store: &Store) -> Result<QueueStats, StoreError> {
    let jobs = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status")
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| (text(r, "status"), int(r, "n")))
        .collect();
    let buckets: Vec<String> = DURATION_BUCKETS
        .iter()
        .enumerate()
        .map(|(i, le)| format!("COALESCE(SUM(CASE WHEN run_seconds <= {le} THEN 1 ELSE 0 END), 0) AS le{i}"))
        .collect();
    let sql = format!(
        "SELECT COUNT(run_seconds) AS n, COALESCE(SUM(run_seconds), 0) AS total, {} FROM jobs WHERE run_seconds IS NOT NULL",
        buckets.join(", ")
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&store.pool).await?;
    let results = sqlx::query(
        "SELECT processor, status, COUNT(*) AS n FROM results GROUP BY processor, status ORDER BY processor, status",
    )
    .fetch_all(&store.pool)
    .await?
    .iter()
    .map(|r| (text(r, "processor"), text(r, "status"), int(r, "n")))
    .collect();
    Ok(QueueStats {
        jobs,
        durations_le: (0..DURATION_BUCKETS.len()).map(|i| int(&row, &format!("le{i}"))).collect(),
        durations_count: int(&row, "n"),
        durations_sum: crate::storage::float(&row, "total").unwrap_or_default(),
        results,
    })
}
