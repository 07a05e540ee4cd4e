//! Tasks (an experience on an item or a selection, queued) and their results.

use super::{ApiError, Ctx, Reply_, json};
use serde::Deserialize;
use warp::http::StatusCode;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewTask {
    /// The experience's uuid.
    experience: uuid::Uuid,
    /// An item's uuid (or give `selection`).
    #[serde(default)]
    item: Option<uuid::Uuid>,
    /// A selection's uuid: every item in it and its nested selections.
    #[serde(default)]
    selection: Option<uuid::Uuid>,
}

pub fn create_schema() -> serde_json::Value {
    super::schema_of::<NewTask>()
}

/// GET /tasks
pub async fn list(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let status = ctx.query.get("status").map(String::as_str).filter(|s| !s.is_empty());
    let found = ctx.state.store.tasks(&ctx.viewer, status, page).await?;
    ctx.page_reply("/tasks", page, found.count, &found.rows)
}

/// POST /tasks: 201 with the task, `pending`; the workers take it from the queue.
pub async fn create(mut ctx: Ctx) -> Reply_ {
    let body: NewTask = ctx.json_body().await?;
    let rules = ctx.state.config.jobs.task_rules();
    let task = ctx
        .state
        .store
        .create_task(&ctx.viewer, &body.experience, body.item.as_ref(), body.selection.as_ref(), &rules)
        .await?;
    announce(&ctx.state, &task);
    Ok(json(StatusCode::CREATED, &task))
}

/// Tells this server's workers and the task's subscribers about a task just queued.
pub(super) fn announce(state: &crate::server::AppState, task: &crate::storage::tasks::Task) {
    if let Some(workers) = &state.workers {
        workers.wake();
    }
    crate::jobs::worker::publish_status(&state.topics, task);
}

/// GET /tasks/{uuid}
pub async fn get(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "task")?;
    Ok(json(StatusCode::OK, &ctx.state.store.task(&ctx.viewer, &uuid).await?))
}

/// POST /tasks/{uuid}/cancel
pub async fn cancel(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "task")?;
    let task = ctx.state.store.cancel_task(&ctx.viewer, &uuid).await?;
    crate::jobs::worker::publish_status(&ctx.state.topics, &task);
    Ok(json(StatusCode::OK, &task))
}

/// GET /results
pub async fn results(ctx: Ctx) -> Reply_ {
    let page = ctx.page()?;
    let uuid_query = |name: &str, what: &'static str| -> Result<Option<uuid::Uuid>, ApiError> {
        match ctx.query.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => uuid::Uuid::parse_str(v)
                .map(Some)
                .map_err(|_| ApiError::bad_parameter(format!("{name}=`{v}` is not a {what} uuid"))),
        }
    };
    let item = uuid_query("item", "item")?;
    let task = uuid_query("task", "task")?;
    let processor = ctx.query.get("processor").map(String::as_str).filter(|p| !p.is_empty());
    let found = ctx.state.store.results(&ctx.viewer, item.as_ref(), processor, task.as_ref(), page).await?;
    ctx.page_reply("/results", page, found.count, &found.rows)
}

/// GET /results/{uuid}
pub async fn result(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "result")?;
    let r = ctx.state.store.result(&ctx.viewer, &uuid).await?;
    let mut v = serde_json::to_value(&r).unwrap_or_default();
    v["data_url"] = format!("/api/v1/results/{uuid}/data").into();
    Ok(json(StatusCode::OK, &v))
}

/// GET /results/{uuid}/data: the stored file, with Range.
pub async fn result_data(ctx: Ctx) -> Reply_ {
    let uuid = ctx.uuid("uuid", "result")?;
    let r = ctx.state.store.result(&ctx.viewer, &uuid).await?;
    if let Some(format) = ctx.query.get("format").filter(|f| !f.is_empty()) {
        return super::exports::result_data_as(&ctx, &r, format).await;
    }
    let path = r.data_path.as_deref().and_then(|p| ctx.state.store.files.resolve(p)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_data",
            format!("result `{uuid}` has no data (status {}: {})", r.status, r.error),
        )
    })?;
    super::media::serve_file(&ctx, &path, &r.mime_type, None).await
}
