//! What to run and on what: presets (a processor with checked parameters), experiences (an
//! ordered list of presets, run in one decoding pass; every shipped pipeline is one) and
//! selections (items and nested selections).

use super::items::Item;
use super::{Page, PageRequest, Store, StoreError, Viewer, Where, db, int, not_found, opt_text, text, uuid_col};
use crate::media::DecodeOptions;
use crate::pipeline::{CompiledPipeline, PipelineSpec, SpecError, StepSpec};
use crate::processors::registry::unknown_processor_message;
use serde_json::Value;
use sqlx::any::AnyRow;
use std::collections::HashSet;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Preset {
    pub uuid: uuid::Uuid,
    pub processor: String,
    pub parameters: Value,
    pub author: Option<String>,
    pub is_public: bool,
    pub read_only: bool,
    pub date_added: String,
    pub date_modified: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Experience {
    pub uuid: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub is_public: bool,
    pub read_only: bool,
    /// Decode options applied to every preset.
    pub decoder: Value,
    /// In order.
    pub presets: Vec<Preset>,
    pub date_added: String,
    pub date_modified: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Selection {
    pub uuid: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub is_public: bool,
    pub items: Vec<uuid::Uuid>,
    pub selections: Vec<uuid::Uuid>,
    pub date_added: String,
    pub date_modified: String,
}

/// Nested selections deeper than this are refused (and never followed further).
pub const MAX_SELECTION_DEPTH: usize = 16;

/// `value` as text with object keys sorted at every level: equal parameters give equal text
/// (what cache keys are made of), whatever order a client sent them in.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // `serde_json::Map` keeps insertion order only with `preserve_order`, which another crate
    // may switch on: sorting here makes the text the same either way.
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

/// `processor`'s parameters checked and with every default filled in, or every problem.
pub fn check_parameters(processor: &str, parameters: &Value) -> Result<Value, Vec<String>> {
    let Some(entry) = crate::processors::lookup(processor) else {
        return Err(vec![unknown_processor_message(processor)]);
    };
    if matches!(entry.factory, crate::processors::registry::Factory::Decoder) {
        return Err(vec![format!("`{processor}` is a decoder: set decode options in the experience's `decoder`")]);
    }
    let parameters = if parameters.is_null() { Value::Object(Default::default()) } else { parameters.clone() };
    (entry.canonical_params)(&parameters).map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect())
}

fn row_to_preset(row: &AnyRow) -> Preset {
    Preset {
        uuid: uuid_col(row, "uuid"),
        processor: text(row, "processor"),
        parameters: super::json(row, "parameters"),
        author: opt_text(row, "author"),
        is_public: int(row, "is_public") != 0,
        read_only: int(row, "read_only") != 0,
        date_added: text(row, "date_added"),
        date_modified: text(row, "date_modified"),
    }
}

impl Experience {
    /// The pass of the presets `steps` (indices, in order) with the experience's decode options,
    /// typed: what a job runs (sent as it is to the job's process) and what is checked when a
    /// task is made. The one place an experience becomes a pipeline.
    pub fn pass(&self, steps: &[usize]) -> Result<PipelineSpec, SpecError> {
        let decoder = if self.decoder.is_null() {
            DecodeOptions::default()
        } else {
            serde_json::from_value(self.decoder.clone())
                .map_err(|e| SpecError { source_name: self.title.clone(), problems: vec![format!("decoder: {e}")] })?
        };
        let processors = steps
            .iter()
            .map(|&i| StepSpec { id: self.presets[i].processor.clone(), params: self.presets[i].parameters.clone() })
            .collect();
        Ok(PipelineSpec { decoder, processors, formats: Vec::new() })
    }

    /// The experience as a pipeline to run: its decode options and presets, in order.
    pub fn pipeline(&self) -> Result<CompiledPipeline, StoreError> {
        let all: Vec<usize> = (0..self.presets.len()).collect();
        self.pass(&all).and_then(|s| s.compile(&self.title)).map_err(|e| StoreError::Invalid(e.problems))
    }
}

impl Store {
    /// A new preset; 400 lists every problem of its parameters.
    /// Its cost must be within `limits` on a reference input, and it may not name an output
    /// file (the server names them).
    pub async fn create_preset(
        &self,
        author: Option<uuid::Uuid>,
        processor: &str,
        parameters: &Value,
        is_public: bool,
        limits: &crate::ondemand::Limits,
    ) -> Result<Preset, StoreError> {
        if parameters.get("file_name").is_some() {
            return Err(StoreError::Invalid(vec![
                "parameters: file_name: presets made through the API cannot name their output file (the server names it)"
                    .into(),
            ]));
        }
        let canonical = check_parameters(processor, parameters).map_err(|problems| {
            StoreError::Invalid(problems.into_iter().map(|p| format!("parameters: {p}")).collect())
        })?;
        crate::ondemand::limits::check_preset(processor, &canonical, limits)
            .map_err(|e| StoreError::Invalid(vec![e.to_string()]))?;
        self.insert_preset(author, processor, &canonical, is_public, false).await
    }

    async fn insert_preset(
        &self,
        author: Option<uuid::Uuid>,
        processor: &str,
        canonical: &Value,
        is_public: bool,
        read_only: bool,
    ) -> Result<Preset, StoreError> {
        let uuid = uuid::Uuid::new_v4();
        let now = db::now();
        sqlx::query(
            "INSERT INTO presets (uuid, processor, parameters, author, is_public, read_only, date_added, date_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(uuid.to_string())
        .bind(processor.to_string())
        .bind(canonical_json(canonical))
        .bind(author.map(|a| a.to_string()))
        .bind(is_public as i64)
        .bind(read_only as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.preset(&Viewer::ADMIN, &uuid).await
    }

    pub async fn preset(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Preset, StoreError> {
        let row = self.row("presets", &Where::default().and("uuid = ?", uuid.to_string()).visible_to(viewer)).await?;
        row.as_ref().map(row_to_preset).ok_or_else(|| not_found("preset", uuid))
    }

    pub async fn presets(
        &self,
        viewer: &Viewer,
        processor: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Preset>, StoreError> {
        let filter = Where::default().visible_to(viewer).and_some("processor = ?", processor);
        let (count, rows) = self.page_rows("presets", &filter, "date_added, uuid", page).await?;
        Ok(Page { count, rows: rows.iter().map(row_to_preset).collect() })
    }

    pub async fn delete_preset(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        let preset = self.preset(viewer, uuid).await?;
        if preset.read_only || !viewer.may_write(preset.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("preset `{uuid}` is read-only for you")));
        }
        let used: i64 = int(
            &sqlx::query("SELECT COUNT(*) AS n FROM experience_presets WHERE preset = $1")
                .bind(uuid.to_string())
                .fetch_one(&self.pool)
                .await?,
            "n",
        );
        if used > 0 {
            return Err(StoreError::Conflict(format!("preset `{uuid}` is used by {used} experience(s)")));
        }
        sqlx::query("DELETE FROM presets WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    /// A new experience of existing presets (visible to `viewer`), in the order given; the
    /// whole is checked as a pipeline (decode options, effects, every parameter).
    pub async fn create_experience(
        &self,
        viewer: &Viewer,
        title: &str,
        description: &str,
        presets: &[uuid::Uuid],
        decoder: &Value,
        is_public: bool,
    ) -> Result<Experience, StoreError> {
        let mut problems = Vec::new();
        if title.trim().is_empty() {
            problems.push("title: must not be empty".to_string());
        }
        super::check_text(&mut problems, "title", Some(title), super::MAX_TITLE);
        super::check_text(&mut problems, "description", Some(description), super::MAX_DESCRIPTION);
        if presets.is_empty() {
            problems.push("presets: at least one".to_string());
        }
        for p in presets {
            if self.preset(viewer, p).await.is_err() {
                problems.push(format!("presets: no preset `{p}`"));
            }
        }
        // Decode options with every default filled in, as the shipped experiences have them:
        // equal options, equal cache keys.
        let decoder = if decoder.is_null() { Value::Object(Default::default()) } else { decoder.clone() };
        let decoder = match serde_json::from_value::<crate::media::DecodeOptions>(decoder) {
            Ok(options) => {
                problems.extend(options.problems().into_iter().map(|p| format!("decoder: {p}")));
                serde_json::to_value(options).unwrap_or_default()
            }
            Err(e) => {
                problems.push(format!("decoder: {e}"));
                Value::Null
            }
        };
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        self.insert_experience(viewer.user, title, description, presets, &decoder, is_public, false).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_experience(
        &self,
        author: Option<uuid::Uuid>,
        title: &str,
        description: &str,
        presets: &[uuid::Uuid],
        decoder: &Value,
        is_public: bool,
        read_only: bool,
    ) -> Result<Experience, StoreError> {
        let uuid = uuid::Uuid::new_v4();
        let now = db::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO experiences (uuid, title, description, author, is_public, read_only, decoder, date_added, date_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(uuid.to_string())
        .bind(title.to_string())
        .bind(description.to_string())
        .bind(author.map(|a| a.to_string()))
        .bind(is_public as i64)
        .bind(read_only as i64)
        .bind(canonical_json(decoder))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (i, p) in presets.iter().enumerate() {
            sqlx::query("INSERT INTO experience_presets (experience, preset, position) VALUES ($1, $2, $3)")
                .bind(uuid.to_string())
                .bind(p.to_string())
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let experience = self.experience(&Viewer::ADMIN, &uuid).await?;
        if let Err(e) = experience.pipeline() {
            // Presets are valid one by one; the whole may not be (decode options).
            self.remove_experience(&uuid).await?;
            return Err(e);
        }
        Ok(experience)
    }

    pub async fn experience(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Experience, StoreError> {
        let row =
            self.row("experiences", &Where::default().and("uuid = ?", uuid.to_string()).visible_to(viewer)).await?;
        let row = row.ok_or_else(|| not_found("experience", uuid))?;
        self.experience_from_row(&row).await
    }

    async fn experience_from_row(&self, row: &AnyRow) -> Result<Experience, StoreError> {
        let uuid = uuid_col(row, "uuid");
        let presets = sqlx::query(
            "SELECT presets.* FROM experience_presets JOIN presets ON presets.uuid = experience_presets.preset
             WHERE experience = $1 ORDER BY position",
        )
        .bind(uuid.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(Experience {
            uuid,
            title: text(row, "title"),
            description: text(row, "description"),
            author: opt_text(row, "author"),
            is_public: int(row, "is_public") != 0,
            read_only: int(row, "read_only") != 0,
            decoder: super::json(row, "decoder"),
            presets: presets.iter().map(row_to_preset).collect(),
            date_added: text(row, "date_added"),
            date_modified: text(row, "date_modified"),
        })
    }

    pub async fn experiences(&self, viewer: &Viewer, page: PageRequest) -> Result<Page<Experience>, StoreError> {
        let (count, rows) = self
            .page_rows("experiences", &Where::default().visible_to(viewer), "read_only DESC, title, uuid", page)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.experience_from_row(row).await?);
        }
        Ok(Page { count, rows: out })
    }

    pub async fn delete_experience(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        let e = self.experience(viewer, uuid).await?;
        if e.read_only || !viewer.may_write(e.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("experience `{uuid}` is read-only for you")));
        }
        let tasks = int(
            &sqlx::query("SELECT COUNT(*) AS n FROM tasks WHERE experience = $1")
                .bind(uuid.to_string())
                .fetch_one(&self.pool)
                .await?,
            "n",
        );
        if tasks > 0 {
            return Err(StoreError::Conflict(format!("experience `{uuid}` has {tasks} task(s)")));
        }
        self.remove_experience(uuid).await
    }

    async fn remove_experience(&self, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM experiences WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    /// The current experience of the shipped pipeline `name`.
    pub async fn shipped_experience(&self, name: &str) -> Result<Option<uuid::Uuid>, StoreError> {
        let row = sqlx::query("SELECT uuid FROM experiences WHERE title = $1 AND read_only = 1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| uuid_col(&r, "uuid")))
    }

    /// Makes every shipped pipeline a public, read-only experience named after its file, and
    /// keeps it in step with the binary: one whose pipeline changed is replaced by a new one
    /// (the old one is kept, renamed, if tasks refer to it).
    pub async fn sync_shipped_experiences(&self) -> Result<(), StoreError> {
        for (name, text) in crate::pipeline::SHIPPED {
            let spec = PipelineSpec::from_toml(text, name).map_err(|e| StoreError::Invalid(e.problems.clone()))?;
            let compiled = spec.compile(name).map_err(|e| StoreError::Invalid(e.problems.clone()))?;
            let decoder = serde_json::to_value(&compiled.decoder).unwrap_or(Value::Null);
            let wanted: Vec<(String, String)> =
                compiled.steps.iter().map(|s| (s.entry.descriptor.id.to_string(), canonical_json(&s.params))).collect();
            if let Some(uuid) = self.shipped_experience(name).await? {
                let old = self.experience(&Viewer::ADMIN, &uuid).await?;
                let have: Vec<(String, String)> =
                    old.presets.iter().map(|p| (p.processor.clone(), canonical_json(&p.parameters))).collect();
                if have == wanted && canonical_json(&old.decoder) == canonical_json(&decoder) {
                    continue;
                }
                sqlx::query("UPDATE experiences SET title = $2 WHERE uuid = $1")
                    .bind(old.uuid.to_string())
                    .bind(format!("{name} (before {})", db::now()))
                    .execute(&self.pool)
                    .await?;
            }
            let mut presets = Vec::new();
            for step in &compiled.steps {
                presets.push(self.insert_preset(None, step.entry.descriptor.id, &step.params, true, true).await?.uuid);
            }
            self.insert_experience(None, name, &crate::pipeline::description(text), &presets, &decoder, true, true)
                .await?;
        }
        Ok(())
    }

    /// A new selection of items and selections (all visible to `viewer`).
    pub async fn create_selection(&self, viewer: &Viewer, fields: SelectionFields) -> Result<Selection, StoreError> {
        fields.check_texts()?;
        let uuid = uuid::Uuid::new_v4();
        let now = db::now();
        sqlx::query(
            "INSERT INTO selections (uuid, title, description, author, is_public, date_added, date_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(uuid.to_string())
        .bind(fields.title.clone().unwrap_or_default())
        .bind(fields.description.clone().unwrap_or_default())
        .bind(viewer.user.map(|u| u.to_string()))
        .bind(fields.is_public.unwrap_or(false) as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        match self.set_selection_members(viewer, &uuid, &fields).await {
            Ok(()) => self.selection(viewer, &uuid).await,
            Err(e) => {
                sqlx::query("DELETE FROM selections WHERE uuid = $1")
                    .bind(uuid.to_string())
                    .execute(&self.pool)
                    .await?;
                Err(e)
            }
        }
    }

    pub async fn update_selection(
        &self,
        viewer: &Viewer,
        uuid: &uuid::Uuid,
        fields: SelectionFields,
    ) -> Result<Selection, StoreError> {
        fields.check_texts()?;
        let old = self.selection(viewer, uuid).await?;
        if !viewer.may_write(old.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("selection `{uuid}` is not yours")));
        }
        sqlx::query(
            "UPDATE selections SET title = $2, description = $3, is_public = $4, date_modified = $5 WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .bind(fields.title.clone().unwrap_or(old.title))
        .bind(fields.description.clone().unwrap_or(old.description))
        .bind(fields.is_public.unwrap_or(old.is_public) as i64)
        .bind(db::now())
        .execute(&self.pool)
        .await?;
        self.set_selection_members(viewer, uuid, &fields).await?;
        self.selection(viewer, uuid).await
    }

    /// Replaces the items and/or nested selections given in `fields`; refuses unknown ones,
    /// cycles and nesting deeper than [`MAX_SELECTION_DEPTH`].
    async fn set_selection_members(
        &self,
        viewer: &Viewer,
        uuid: &uuid::Uuid,
        fields: &SelectionFields,
    ) -> Result<(), StoreError> {
        let mut problems = Vec::new();
        for i in fields.items.iter().flatten() {
            if self.item(viewer, i).await.is_err() {
                problems.push(format!("items: no item `{i}`"));
            }
        }
        for s in fields.selections.iter().flatten() {
            if s == uuid {
                problems.push("selections: a selection cannot contain itself".into());
            } else if self.selection(viewer, s).await.is_err() {
                problems.push(format!("selections: no selection `{s}`"));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let mut tx = self.pool.begin().await?;
        // Nesting is checked on what this transaction writes, with no other nesting written
        // meanwhile: PostgreSQL serialises these transactions on a lock; SQLite's first write
        // takes its one writer's lock.
        if self.engine == db::Engine::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7423001)").execute(&mut *tx).await?;
        }
        if let Some(items) = &fields.items {
            sqlx::query("DELETE FROM selection_items WHERE selection = $1")
                .bind(uuid.to_string())
                .execute(&mut *tx)
                .await?;
            for (i, item) in dedup(items).iter().enumerate() {
                sqlx::query("INSERT INTO selection_items (selection, item, position) VALUES ($1, $2, $3)")
                    .bind(uuid.to_string())
                    .bind(item.to_string())
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(children) = &fields.selections {
            sqlx::query("DELETE FROM selection_children WHERE parent = $1")
                .bind(uuid.to_string())
                .execute(&mut *tx)
                .await?;
            for (i, child) in dedup(children).iter().enumerate() {
                sqlx::query("INSERT INTO selection_children (parent, child, position) VALUES ($1, $2, $3)")
                    .bind(uuid.to_string())
                    .bind(child.to_string())
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let below = nesting_levels(&mut tx, uuid, Direction::Children).await?;
        let above = nesting_levels(&mut tx, uuid, Direction::Parents).await?;
        let problem = if below.reaches_start {
            Some("selections: one of them contains this selection (a cycle)".to_string())
        } else if below.levels + above.levels - 1 > MAX_SELECTION_DEPTH {
            Some(format!(
                "selections: nested deeper than {MAX_SELECTION_DEPTH} (this selection would sit in a chain of {})",
                below.levels + above.levels - 1
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            tx.rollback().await?;
            return Err(StoreError::Invalid(vec![problem]));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn selection(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Selection, StoreError> {
        let row =
            self.row("selections", &Where::default().and("uuid = ?", uuid.to_string()).visible_to(viewer)).await?;
        let row = row.ok_or_else(|| not_found("selection", uuid))?;
        self.selection_from_row(viewer, &row).await
    }

    /// The selection of `row` as `viewer` sees it: only the items and nested selections it may
    /// see are listed (a public selection does not name its author's private items).
    async fn selection_from_row(&self, viewer: &Viewer, row: &AnyRow) -> Result<Selection, StoreError> {
        let uuid = uuid_col(row, "uuid");
        let items = Where::default().and("selection = ?", uuid.to_string()).of_items_visible_to(viewer);
        let items = self.select("item", "selection_items", &items, "position").await?;
        let children = Where::default().and("parent = ?", uuid.to_string()).owned_by(
            viewer,
            "child IN (SELECT uuid FROM selections WHERE is_public = 1 OR author = ?)",
            "child IN (SELECT uuid FROM selections WHERE is_public = 1)",
        );
        let children = self.select("child", "selection_children", &children, "position").await?;
        Ok(Selection {
            uuid,
            title: text(row, "title"),
            description: text(row, "description"),
            author: opt_text(row, "author"),
            is_public: int(row, "is_public") != 0,
            items: items.iter().map(|r| uuid_col(r, "item")).collect(),
            selections: children.iter().map(|r| uuid_col(r, "child")).collect(),
            date_added: text(row, "date_added"),
            date_modified: text(row, "date_modified"),
        })
    }

    pub async fn selections(&self, viewer: &Viewer, page: PageRequest) -> Result<Page<Selection>, StoreError> {
        let (count, rows) = self
            .page_rows("selections", &Where::default().visible_to(viewer), "date_added DESC, uuid DESC", page)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.selection_from_row(viewer, row).await?);
        }
        Ok(Page { count, rows: out })
    }

    pub async fn delete_selection(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        let s = self.selection(viewer, uuid).await?;
        if !viewer.may_write(s.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("selection `{uuid}` is not yours")));
        }
        sqlx::query("DELETE FROM selections WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    /// Every item of a selection and its nested selections that `viewer` sees, once each, in
    /// order (depth first).
    pub async fn selection_items(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut seen_items = HashSet::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(*uuid, 0usize)];
        while let Some((s, depth)) = stack.pop() {
            if depth > MAX_SELECTION_DEPTH || !seen.insert(s) {
                continue;
            }
            let Ok(selection) = self.selection(viewer, &s).await else { continue };
            for i in selection.items {
                if let Ok(item) = self.item(viewer, &i).await
                    && seen_items.insert(i)
                {
                    out.push(item);
                }
            }
            for child in selection.selections.into_iter().rev() {
                stack.push((child, depth + 1));
            }
        }
        Ok(out)
    }
}

/// The fields of a selection a client sets; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub items: Option<Vec<uuid::Uuid>>,
    pub selections: Option<Vec<uuid::Uuid>>,
}

impl SelectionFields {
    fn check_texts(&self) -> Result<(), StoreError> {
        super::check_texts(&[
            ("title", self.title.as_deref(), super::MAX_TITLE),
            ("description", self.description.as_deref(), super::MAX_DESCRIPTION),
        ])
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Children,
    Parents,
}

/// How many levels of selections there are from `start` (itself included) going one way, and
/// whether that way leads back to `start` (a cycle). Walked level by level, each selection once
/// per level, and never past [`MAX_SELECTION_DEPTH`] + 1 levels: a wide graph costs its size, not
/// its number of paths.
struct Nesting {
    levels: usize,
    reaches_start: bool,
}

async fn nesting_levels(
    conn: &mut sqlx::AnyConnection,
    start: &uuid::Uuid,
    direction: Direction,
) -> Result<Nesting, StoreError> {
    let sql = match direction {
        Direction::Children => "SELECT child AS next FROM selection_children WHERE parent = $1",
        Direction::Parents => "SELECT parent AS next FROM selection_children WHERE child = $1",
    };
    let mut level: HashSet<uuid::Uuid> = HashSet::from([*start]);
    let mut levels = 0;
    while !level.is_empty() && levels <= MAX_SELECTION_DEPTH + 1 {
        levels += 1;
        let mut next = HashSet::new();
        for s in &level {
            for row in sqlx::query(sql).bind(s.to_string()).fetch_all(&mut *conn).await? {
                next.insert(uuid_col(&row, "next"));
            }
        }
        if next.contains(start) {
            return Ok(Nesting { levels, reaches_start: true });
        }
        level = next;
    }
    Ok(Nesting { levels, reaches_start: false })
}

fn dedup(ids: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let mut seen = HashSet::new();
    ids.iter().filter(|i| seen.insert(**i)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [2, {"d": 1, "c": 2}], "x": 1}}"#).expect("json");
        assert_eq!(canonical_json(&a), r#"{"a":{"x":1,"y":[2,{"c":2,"d":1}]},"b":1}"#);
    }

    #[test]
    fn parameters_are_checked_against_the_processor() {
        assert!(check_parameters("levle", &Value::Null).expect_err("unknown")[0].contains("levle"));
        let errs = check_parameters("spectrogram", &serde_json::json!({ "n_fft": 8, "hop_size": 0, "bogus": 1 }))
            .expect_err("invalid");
        assert!(!errs.is_empty());
        let full = check_parameters("spectrogram", &serde_json::json!({ "n_fft": 1024 })).expect("valid");
        assert_eq!(full["hop_size"], 512);
    }
}
