//! Tasks: an experience over an item or a selection. A task is one job per item in the queue
//! (see `jobs::queue`); its status and progress are derived from its jobs'.

use super::results::{ResultRow, row_to_result, status};
use super::{Page, PageRequest, Store, StoreError, Viewer, Where, db, float, int, not_found, opt_text, text, uuid_col};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Task {
    pub uuid: uuid::Uuid,
    pub experience: uuid::Uuid,
    pub item: Option<String>,
    pub selection: Option<String>,
    pub author: Option<String>,
    pub status: String,
    /// 0..1, over all the task's items.
    pub progress: f64,
    pub error: String,
    pub date_added: String,
    pub date_modified: String,
    pub date_started: Option<String>,
    pub date_finished: Option<String>,
    /// One entry per item, in order.
    pub items: Vec<TaskItem>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskItem {
    pub item: uuid::Uuid,
    /// The item's title, for lists of tasks; empty once the task's author no longer sees it.
    pub title: String,
    pub status: String,
    pub progress: f64,
    pub error: String,
    pub attempts: i64,
    pub results: Vec<ResultRow>,
}

/// Tasks are their author's (and admins').
fn visible(viewer: &Viewer) -> Where {
    Where::default().owned_by(viewer, "author = ?", "1 = 0")
}

impl Store {
    /// A new task, with one pending job per item: `item`, or every item of `selection` that the
    /// viewer sees. Everything is checked first; nothing is queued for a bad request.
    /// The experience's cost on each item must be within `rules.limits`, and the viewer
    /// within its quotas (admins are exempt).
    pub async fn create_task(
        &self,
        viewer: &Viewer,
        experience: &uuid::Uuid,
        item: Option<&uuid::Uuid>,
        selection: Option<&uuid::Uuid>,
        rules: &crate::ondemand::TaskRules,
    ) -> Result<Task, StoreError> {
        let exp = self.experience(viewer, experience).await?;
        let pipeline = exp.pipeline()?;
        let items = match (item, selection) {
            (Some(i), None) => vec![self.item(viewer, i).await?],
            (None, Some(s)) => {
                let items = self.selection_items(viewer, s).await?;
                if items.is_empty() {
                    return Err(StoreError::Invalid(vec![format!("selection `{s}` has no items")]));
                }
                items
            }
            _ => return Err(StoreError::Invalid(vec!["give either `item` or `selection`".into()])),
        };
        let refused: Vec<String> = items
            .iter()
            .filter_map(|item| {
                let shape = item.audio_shape()?;
                crate::ondemand::limits::check(&pipeline, shape, &rules.limits)
                    .err()
                    .map(|e| format!("item `{}`: experience `{}`: {e}", item.uuid, exp.title))
            })
            .collect();
        if !refused.is_empty() {
            return Err(StoreError::Invalid(refused));
        }
        if !viewer.admin {
            self.check_quotas(viewer, items.len() as i64, &rules.quotas).await?;
        }
        let author = viewer.user.map(|u| u.to_string()).unwrap_or_default();
        let uuid = uuid::Uuid::new_v4();
        let now = db::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tasks (uuid, experience, item, selection, author, status, date_added, date_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(uuid.to_string())
        .bind(experience.to_string())
        .bind(item.map(|i| i.to_string()))
        .bind(selection.map(|s| s.to_string()))
        .bind(viewer.user.map(|u| u.to_string()))
        .bind(status::PENDING)
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        for (i, item) in items.iter().enumerate() {
            // The position is in the creation time so that jobs are claimed in order.
            sqlx::query(
                "INSERT INTO jobs (uuid, task, item, status, date_added, author) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(uuid.to_string())
            .bind(item.uuid.to_string())
            .bind(status::PENDING)
            .bind(format!("{now}#{i:08}"))
            .bind(author.clone())
            .execute(&mut *tx)
            .await?;
        }
        if self.engine == db::Engine::Postgres {
            // Worker processes listening claim at once (sent when the jobs are committed).
            sqlx::query("SELECT pg_notify($1, '')").bind(db::NEW_JOBS_CHANNEL).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // The task as created (workers may have claimed it already: a read would race them).
        Ok(Task {
            uuid,
            experience: *experience,
            item: item.map(|i| i.to_string()),
            selection: selection.map(|s| s.to_string()),
            author: viewer.user.map(|u| u.to_string()),
            status: status::PENDING.into(),
            progress: 0.0,
            error: String::new(),
            date_added: now.clone(),
            date_modified: now,
            date_started: None,
            date_finished: None,
            items: items
                .into_iter()
                .map(|item| TaskItem {
                    item: item.uuid,
                    title: item.title,
                    status: status::PENDING.into(),
                    progress: 0.0,
                    error: String::new(),
                    attempts: 0,
                    results: Vec::new(),
                })
                .collect(),
        })
    }

    /// Refuses `new_jobs` more for `viewer` past its quotas: 429 with when to try again.
    async fn check_quotas(
        &self,
        viewer: &Viewer,
        new_jobs: i64,
        quotas: &crate::ondemand::Quotas,
    ) -> Result<(), StoreError> {
        let author = viewer.user.map(|u| u.to_string()).unwrap_or_default();
        if quotas.max_tasks_per_minute > 0 {
            let since = (chrono::Utc::now() - chrono::Duration::seconds(60))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let row = sqlx::query("SELECT COUNT(*) AS n FROM tasks WHERE author = $1 AND date_added > $2")
                .bind(author.clone())
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
            if int(&row, "n") >= quotas.max_tasks_per_minute {
                return Err(StoreError::Quota {
                    message: format!(
                        "you made {} tasks in the last minute, the most a user may (jobs.max_tasks_per_minute): try again shortly",
                        quotas.max_tasks_per_minute
                    ),
                    retry_after_s: 60,
                });
            }
        }
        if quotas.max_pending_jobs > 0 {
            let row =
                sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE author = $1 AND status IN ('pending', 'running')")
                    .bind(author)
                    .fetch_one(&self.pool)
                    .await?;
            let queued = int(&row, "n");
            if queued + new_jobs > quotas.max_pending_jobs {
                return Err(StoreError::Quota {
                    message: format!(
                        "you have {queued} jobs queued or running and this task adds {new_jobs}: at most {} at once \
                         (jobs.max_pending_jobs_per_user); try again when some have run",
                        quotas.max_pending_jobs
                    ),
                    retry_after_s: 60,
                });
            }
        }
        Ok(())
    }

    pub async fn task(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Task, StoreError> {
        let row = self.row("tasks", &visible(viewer).and("uuid = ?", uuid.to_string())).await?;
        let row = row.ok_or_else(|| not_found("task", uuid))?;
        self.task_from_row(&row).await
    }

    async fn task_from_row(&self, row: &AnyRow) -> Result<Task, StoreError> {
        let uuid = uuid_col(row, "uuid");
        // With the item's title where the task's author still sees the item.
        let jobs = sqlx::query(
            "SELECT jobs.*, items.title AS item_title FROM jobs
             JOIN tasks ON tasks.uuid = jobs.task
             LEFT JOIN items ON items.uuid = jobs.item AND (items.is_public = 1 OR items.author = tasks.author)
             WHERE jobs.task = $1 ORDER BY jobs.date_added",
        )
        .bind(uuid.to_string())
        .fetch_all(&self.pool)
        .await?;
        let results = sqlx::query("SELECT * FROM results WHERE task = $1 ORDER BY date_added")
            .bind(uuid.to_string())
            .fetch_all(&self.pool)
            .await?;
        let results: Vec<ResultRow> = results.iter().map(row_to_result).collect();
        let items: Vec<TaskItem> = jobs
            .iter()
            .map(|j| {
                let item = uuid_col(j, "item");
                TaskItem {
                    item,
                    title: opt_text(j, "item_title").unwrap_or_default(),
                    status: text(j, "status"),
                    progress: float(j, "progress").unwrap_or_default(),
                    error: text(j, "error"),
                    attempts: int(j, "attempts"),
                    results: results.iter().filter(|r| r.item == item).cloned().collect(),
                }
            })
            .collect();
        let progress = if items.is_empty() {
            0.0
        } else {
            items
                .iter()
                .map(|i| if i.status == status::RUNNING || i.status == status::PENDING { i.progress } else { 1.0 })
                .sum::<f64>()
                / items.len() as f64
        };
        Ok(Task {
            uuid,
            experience: uuid_col(row, "experience"),
            item: opt_text(row, "item"),
            selection: opt_text(row, "selection"),
            author: opt_text(row, "author"),
            status: text(row, "status"),
            progress,
            error: text(row, "error"),
            date_added: text(row, "date_added"),
            date_modified: text(row, "date_modified"),
            date_started: opt_text(row, "date_started"),
            date_finished: opt_text(row, "date_finished"),
            items,
        })
    }

    pub async fn tasks(
        &self,
        viewer: &Viewer,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError> {
        let filter = visible(viewer).and_some("status = ?", status);
        let (count, rows) = self.page_rows("tasks", &filter, "date_added DESC, uuid DESC", page).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.task_from_row(row).await?);
        }
        Ok(Page { count, rows: out })
    }

    /// Cancels a task that has not finished: its pending jobs will not run, its running ones
    /// stop at their next heartbeat (their workers see the job cancelled).
    pub async fn cancel_task(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Task, StoreError> {
        let task = self.task(viewer, uuid).await?;
        if !viewer.may_write(task.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("task `{uuid}` is not yours")));
        }
        if status::TASK_ENDED.contains(&task.status.as_str()) {
            return Err(StoreError::Conflict(format!("task `{uuid}` has already ended ({})", task.status)));
        }
        let now = db::now();
        let cancelled = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', date_finished = $2 WHERE task = $1 AND status IN ('pending', 'running')",
        )
        .bind(uuid.to_string())
        .bind(now.clone())
        .execute(&self.pool)
        .await?;
        if cancelled.rows_affected() == 0 {
            // Every job had ended (the task's own status was about to say so): it keeps what
            // its jobs did, and the client is told.
            let ended = self.refresh_task(uuid).await?.map_or(task.status, |t| t.status);
            return Err(StoreError::Conflict(format!("task `{uuid}` has already ended ({ended})")));
        }
        sqlx::query("UPDATE tasks SET status = 'cancelled', date_modified = $2, date_finished = $2 WHERE uuid = $1")
            .bind(uuid.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.ingest_task_changed(uuid).await?;
        self.task(viewer, uuid).await
    }

    /// Derives a task's status from its jobs' and stores it; returns the task when its status
    /// changed. Ended tasks keep their status.
    pub async fn refresh_task(&self, uuid: &uuid::Uuid) -> Result<Option<Task>, StoreError> {
        let task = self.task(&Viewer::ADMIN, uuid).await?;
        let count = |s: &str| task.items.iter().filter(|i| i.status == s).count();
        let (pending, running, failed) = (count(status::PENDING), count(status::RUNNING), count(status::FAILED));
        let total = task.items.len();
        let next = if status::TASK_ENDED.contains(&task.status.as_str()) {
            return Ok(None);
        } else if pending == total {
            status::PENDING
        } else if pending + running > 0 {
            status::RUNNING
        } else if count(status::CANCELLED) > 0 {
            status::CANCELLED
        } else if failed == total {
            status::FAILED
        } else if failed > 0 {
            // 123 of 138 items analysed is a success with errors, not a failure.
            status::DONE_WITH_ERRORS
        } else {
            status::DONE
        };
        if next == task.status {
            return Ok(None);
        }
        let error = if failed > 0 {
            let each: Vec<String> = task
                .items
                .iter()
                .filter(|i| i.status == status::FAILED)
                .map(|i| format!("{}: {}", i.item, i.error))
                .collect();
            format!("{failed} of {total} items failed: {}", each.join("; "))
        } else {
            String::new()
        };
        let now = db::now();
        let ended = status::TASK_ENDED.contains(&next);
        sqlx::query(
            "UPDATE tasks SET status = $2, error = $3, date_modified = $4,
                date_started = COALESCE(date_started, $5), date_finished = $6
             WHERE uuid = $1 AND status = $7",
        )
        .bind(uuid.to_string())
        .bind(next)
        .bind(error)
        .bind(now.clone())
        .bind((next != status::PENDING).then(|| now.clone()))
        .bind(ended.then_some(now))
        .bind(task.status.clone())
        .execute(&self.pool)
        .await?;
        self.ingest_task_changed(uuid).await?;
        Ok(Some(self.task(&Viewer::ADMIN, uuid).await?))
    }
}
