//! Annotation tracks and their annotations (TimeSide's `annotation_tracks` and `annotations`).
//!
//! A track belongs to an item and to its author; it is public or private. Whoever sees the
//! item sees its public tracks; its author (and admins) also see the private ones and are the
//! only ones who change a track or its annotations. An annotation is a span of the item,
//! `start_time..stop_time` seconds (a point when they are equal), labelled by its title; a
//! track that is not `overlapping` refuses annotations whose spans overlap.

use super::items::Item;
use super::{Page, PageRequest, Store, StoreError, Viewer, Where, db, float, int, not_found, opt_text, text, uuid_col};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, serde::Serialize)]
pub struct AnnotationTrack {
    pub uuid: uuid::Uuid,
    pub item: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub is_public: bool,
    pub overlapping: bool,
    pub annotations: Vec<Annotation>,
    pub date_added: String,
    pub date_modified: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Annotation {
    pub uuid: uuid::Uuid,
    pub track: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub start_time: f64,
    pub stop_time: f64,
    pub results: Vec<uuid::Uuid>,
    pub date_added: String,
    pub date_modified: String,
}

/// A new track's fields, or a change (absent fields stay).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackFields {
    /// The item (required to create; a track never moves to another item).
    pub item: Option<uuid::Uuid>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    /// Whether annotations may overlap (default true).
    pub overlapping: Option<bool>,
}

/// A new annotation's fields, or a change (absent fields stay).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationFields {
    /// The track (required to create; an annotation never moves to another track).
    pub track: Option<uuid::Uuid>,
    /// The label.
    pub title: Option<String>,
    pub description: Option<String>,
    /// Seconds from the item's start.
    pub start_time: Option<f64>,
    /// Seconds from the item's start; equal to start_time for a point.
    pub stop_time: Option<f64>,
    /// Results (uuids) the annotation refers to.
    pub results: Option<Vec<uuid::Uuid>>,
}

/// Most annotations a track holds.
pub const MAX_ANNOTATIONS: i64 = 100_000;

fn check_text(problems: &mut Vec<String>, name: &str, value: &Option<String>) {
    super::check_text(problems, name, value.as_deref(), super::MAX_DESCRIPTION);
}

impl Store {
    /// Tracks `viewer` sees: public ones and its own (all for admins), of items it sees.
    fn visible_tracks(viewer: &Viewer) -> Where {
        Where::default().visible_to(viewer).of_items_visible_to(viewer)
    }

    pub async fn create_annotation_track(
        &self,
        viewer: &Viewer,
        fields: TrackFields,
    ) -> Result<AnnotationTrack, StoreError> {
        let Some(item) = fields.item else {
            return Err(StoreError::Invalid(vec!["item: required".into()]));
        };
        let mut problems = Vec::new();
        check_text(&mut problems, "title", &fields.title);
        check_text(&mut problems, "description", &fields.description);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        // Annotating needs seeing the item (a private one is not found for others).
        self.item(viewer, &item).await?;
        let now = db::now();
        let track = AnnotationTrack {
            uuid: uuid::Uuid::new_v4(),
            item,
            title: fields.title.unwrap_or_default(),
            description: fields.description.unwrap_or_default(),
            author: viewer.user.map(|u| u.to_string()),
            is_public: fields.is_public.unwrap_or(false),
            overlapping: fields.overlapping.unwrap_or(true),
            annotations: Vec::new(),
            date_added: now.clone(),
            date_modified: now,
        };
        sqlx::query(
            "INSERT INTO annotation_tracks (uuid, item, title, description, author, is_public, overlapping,
             date_added, date_modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(track.uuid.to_string())
        .bind(item.to_string())
        .bind(&track.title)
        .bind(&track.description)
        .bind(track.author.clone())
        .bind(track.is_public as i64)
        .bind(track.overlapping as i64)
        .bind(&track.date_added)
        .execute(&self.pool)
        .await?;
        Ok(track)
    }

    /// The track without its annotations, if `viewer` sees it and its item (the item's owner
    /// may have made it private since): what reads and deletes need.
    async fn visible_track(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<AnnotationTrack, StoreError> {
        let filter = Self::visible_tracks(viewer).and("uuid = ?", uuid.to_string());
        let row = self.row("annotation_tracks", &filter).await?.ok_or_else(|| not_found("annotation track", uuid))?;
        Ok(track_from_row(&row))
    }

    /// The track with its annotations.
    pub async fn annotation_track(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<AnnotationTrack, StoreError> {
        let mut track = self.visible_track(viewer, uuid).await?;
        track.annotations = self.track_annotations(&track.uuid).await?;
        Ok(track)
    }

    /// Tracks `viewer` sees, of one item or of every item it sees; each with its annotations.
    pub async fn annotation_tracks(
        &self,
        viewer: &Viewer,
        item: Option<&uuid::Uuid>,
        page: PageRequest,
    ) -> Result<Page<AnnotationTrack>, StoreError> {
        if let Some(item) = item {
            self.item(viewer, item).await?;
        }
        let filter = Self::visible_tracks(viewer).and_some("item = ?", item.map(|i| i.to_string()));
        let (count, rows) = self.page_rows("annotation_tracks", &filter, "date_added ASC, uuid ASC", page).await?;
        let mut tracks: Vec<AnnotationTrack> = rows.iter().map(track_from_row).collect();
        // The page's annotations in one query, not one per track.
        let uuids: Vec<uuid::Uuid> = tracks.iter().map(|t| t.uuid).collect();
        let mut annotations = self.annotations_of_tracks(&uuids).await?;
        for track in &mut tracks {
            track.annotations = annotations.remove(&track.uuid).unwrap_or_default();
        }
        Ok(Page { count, rows: tracks })
    }

    /// The uuids of the tracks of `item` that `viewer` sees (the item's `annotation_tracks`).
    pub async fn annotation_track_ids(
        &self,
        viewer: &Viewer,
        item: &uuid::Uuid,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        let filter = Self::visible_tracks(viewer).and("item = ?", item.to_string());
        let sql = format!("SELECT uuid FROM annotation_tracks WHERE {} ORDER BY date_added, uuid", filter.sql());
        let rows = filter.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| uuid_col(r, "uuid")).collect())
    }

    /// The track with its annotations and the item it annotates, if `viewer` may change the
    /// track: what a written annotation's span is checked against.
    async fn writable_track(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(AnnotationTrack, Item), StoreError> {
        let track = self.annotation_track(viewer, uuid).await?;
        ensure_writable(viewer, &track)?;
        let item = self.item(viewer, &track.item).await.map_err(|_| not_found("annotation track", uuid))?;
        Ok((track, item))
    }

    pub async fn update_annotation_track(
        &self,
        viewer: &Viewer,
        uuid: &uuid::Uuid,
        fields: TrackFields,
    ) -> Result<AnnotationTrack, StoreError> {
        // Its annotations are checked when it stops allowing overlaps.
        let old = self.annotation_track(viewer, uuid).await?;
        ensure_writable(viewer, &old)?;
        let mut problems = Vec::new();
        if fields.item.is_some_and(|i| i != old.item) {
            problems.push("item: a track stays on its item".into());
        }
        check_text(&mut problems, "title", &fields.title);
        check_text(&mut problems, "description", &fields.description);
        let overlapping = fields.overlapping.unwrap_or(old.overlapping);
        if !overlapping && old.overlapping && first_overlap(&old.annotations).is_some() {
            problems.push("overlapping: the track's annotations overlap already".into());
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let changed = AnnotationTrack {
            title: fields.title.unwrap_or(old.title.clone()),
            description: fields.description.unwrap_or(old.description.clone()),
            is_public: fields.is_public.unwrap_or(old.is_public),
            overlapping,
            date_modified: db::now(),
            ..old
        };
        sqlx::query(
            "UPDATE annotation_tracks SET title = $2, description = $3, is_public = $4, overlapping = $5,
             date_modified = $6 WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .bind(&changed.title)
        .bind(&changed.description)
        .bind(changed.is_public as i64)
        .bind(changed.overlapping as i64)
        .bind(&changed.date_modified)
        .execute(&self.pool)
        .await?;
        Ok(changed)
    }

    pub async fn delete_annotation_track(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        ensure_writable(viewer, &self.visible_track(viewer, uuid).await?)?;
        // Its annotations go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM annotation_tracks WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    async fn track_annotations(&self, track: &uuid::Uuid) -> Result<Vec<Annotation>, StoreError> {
        Ok(self.annotations_of_tracks(&[*track]).await?.remove(track).unwrap_or_default())
    }

    /// The annotations of `tracks`, each track's in time order.
    async fn annotations_of_tracks(
        &self,
        tracks: &[uuid::Uuid],
    ) -> Result<std::collections::HashMap<uuid::Uuid, Vec<Annotation>>, StoreError> {
        let mut by_track = std::collections::HashMap::<uuid::Uuid, Vec<Annotation>>::new();
        if tracks.is_empty() {
            return Ok(by_track);
        }
        let marks: Vec<String> = (1..=tracks.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT * FROM annotations WHERE track IN ({}) ORDER BY start_time, uuid", marks.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for track in tracks {
            query = query.bind(track.to_string());
        }
        for row in query.fetch_all(&self.pool).await? {
            let annotation = annotation_from_row(&row);
            by_track.entry(annotation.track).or_default().push(annotation);
        }
        Ok(by_track)
    }

    /// Checks an annotation's span against the item's duration and, on a track that is not
    /// `overlapping`, against its other annotations; and its results against what `viewer` sees.
    async fn check_annotation(
        &self,
        viewer: &Viewer,
        (track, item): (&AnnotationTrack, &Item),
        candidate: &Annotation,
    ) -> Result<(), StoreError> {
        let mut problems = Vec::new();
        let (start, stop) = (candidate.start_time, candidate.stop_time);
        if !start.is_finite() || start < 0.0 {
            problems.push(format!("start_time: {start}: seconds from 0"));
        }
        if !stop.is_finite() || stop < start {
            problems.push(format!("stop_time: {stop}: seconds, not before start_time ({start})"));
        }
        if let Some(duration) = item.audio_duration
            && stop > duration + 1e-3
        {
            problems.push(format!("stop_time: {stop}: after the item's end ({duration:.3} s)"));
        }
        for r in &candidate.results {
            if self.result(viewer, r).await.is_err() {
                problems.push(format!("results: no result `{r}`"));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        if !track.overlapping {
            let others = track.annotations.iter().filter(|a| a.uuid != candidate.uuid);
            if let Some(other) = others.into_iter().find(|a| a.start_time < stop && start < a.stop_time) {
                return Err(StoreError::Conflict(format!(
                    "the track does not allow overlaps: {start}..{stop} s overlaps annotation `{}` ({}..{} s)",
                    other.uuid, other.start_time, other.stop_time
                )));
            }
        }
        Ok(())
    }

    pub async fn create_annotation(&self, viewer: &Viewer, fields: AnnotationFields) -> Result<Annotation, StoreError> {
        let mut problems = Vec::new();
        for (name, missing) in [("track", fields.track.is_none()), ("start_time", fields.start_time.is_none())] {
            if missing {
                problems.push(format!("{name}: required"));
            }
        }
        check_text(&mut problems, "title", &fields.title);
        check_text(&mut problems, "description", &fields.description);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let track_id = fields.track.unwrap_or_default();
        let (track, item) = self.writable_track(viewer, &track_id).await?;
        if track.annotations.len() as i64 >= MAX_ANNOTATIONS {
            return Err(StoreError::Invalid(vec![format!("track: at most {MAX_ANNOTATIONS} annotations")]));
        }
        let start = fields.start_time.unwrap_or_default();
        let now = db::now();
        let annotation = Annotation {
            uuid: uuid::Uuid::new_v4(),
            track: track_id,
            title: fields.title.unwrap_or_default(),
            description: fields.description.unwrap_or_default(),
            author: viewer.user.map(|u| u.to_string()),
            start_time: start,
            stop_time: fields.stop_time.unwrap_or(start),
            results: fields.results.unwrap_or_default(),
            date_added: now.clone(),
            date_modified: now,
        };
        self.check_annotation(viewer, (&track, &item), &annotation).await?;
        sqlx::query(
            "INSERT INTO annotations (uuid, track, title, description, author, start_time, stop_time, results,
             date_added, date_modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(annotation.uuid.to_string())
        .bind(track_id.to_string())
        .bind(&annotation.title)
        .bind(&annotation.description)
        .bind(annotation.author.clone())
        .bind(annotation.start_time)
        .bind(annotation.stop_time)
        .bind(serde_json::to_string(&annotation.results).unwrap_or_else(|_| "[]".into()))
        .bind(&annotation.date_added)
        .execute(&self.pool)
        .await?;
        self.touch_track(&track_id).await?;
        Ok(annotation)
    }

    /// The annotation's row, whoever may see it.
    async fn annotation_row(&self, uuid: &uuid::Uuid) -> Result<Annotation, StoreError> {
        let row = sqlx::query("SELECT * FROM annotations WHERE uuid = $1")
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("annotation", uuid))?;
        Ok(annotation_from_row(&row))
    }

    /// The annotation and its track (without its annotations), if `viewer` sees the track (an
    /// annotation is seen with its track).
    async fn annotation_and_track(
        &self,
        viewer: &Viewer,
        uuid: &uuid::Uuid,
    ) -> Result<(Annotation, AnnotationTrack), StoreError> {
        let annotation = self.annotation_row(uuid).await?;
        let track = self.visible_track(viewer, &annotation.track).await.map_err(|_| not_found("annotation", uuid))?;
        Ok((annotation, track))
    }

    pub async fn annotation(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Annotation, StoreError> {
        Ok(self.annotation_and_track(viewer, uuid).await?.0)
    }

    /// Annotations of one track `viewer` sees.
    pub async fn annotations(&self, viewer: &Viewer, track: &uuid::Uuid) -> Result<Vec<Annotation>, StoreError> {
        Ok(self.annotation_track(viewer, track).await?.annotations)
    }

    pub async fn update_annotation(
        &self,
        viewer: &Viewer,
        uuid: &uuid::Uuid,
        fields: AnnotationFields,
    ) -> Result<Annotation, StoreError> {
        let old = self.annotation_row(uuid).await?;
        // A track the viewer does not see hides its annotations.
        let (track, item) = match self.writable_track(viewer, &old.track).await {
            Err(StoreError::NotFound { .. }) => return Err(not_found("annotation", uuid)),
            other => other?,
        };
        let track_id = track.uuid;
        let mut problems = Vec::new();
        if fields.track.is_some_and(|t| t != track_id) {
            problems.push("track: an annotation stays on its track".into());
        }
        check_text(&mut problems, "title", &fields.title);
        check_text(&mut problems, "description", &fields.description);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let changed = Annotation {
            title: fields.title.unwrap_or(old.title.clone()),
            description: fields.description.unwrap_or(old.description.clone()),
            start_time: fields.start_time.unwrap_or(old.start_time),
            stop_time: fields.stop_time.unwrap_or(old.stop_time),
            results: fields.results.unwrap_or(old.results.clone()),
            date_modified: db::now(),
            ..old
        };
        self.check_annotation(viewer, (&track, &item), &changed).await?;
        sqlx::query(
            "UPDATE annotations SET title = $2, description = $3, start_time = $4, stop_time = $5, results = $6,
             date_modified = $7 WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .bind(&changed.title)
        .bind(&changed.description)
        .bind(changed.start_time)
        .bind(changed.stop_time)
        .bind(serde_json::to_string(&changed.results).unwrap_or_else(|_| "[]".into()))
        .bind(&changed.date_modified)
        .execute(&self.pool)
        .await?;
        self.touch_track(&track_id).await?;
        Ok(changed)
    }

    pub async fn delete_annotation(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        let (_, track) = self.annotation_and_track(viewer, uuid).await?;
        ensure_writable(viewer, &track)?;
        sqlx::query("DELETE FROM annotations WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        self.touch_track(&track.uuid).await
    }

    /// A change to an annotation is a change to its track.
    async fn touch_track(&self, track: &uuid::Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE annotation_tracks SET date_modified = $2 WHERE uuid = $1")
            .bind(track.to_string())
            .bind(db::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Only a track's author (or an admin) changes it and its annotations.
fn ensure_writable(viewer: &Viewer, track: &AnnotationTrack) -> Result<(), StoreError> {
    if viewer.may_write(track.author.as_deref()) {
        Ok(())
    } else {
        Err(StoreError::Forbidden(format!("annotation track `{}` is not yours", track.uuid)))
    }
}

/// A track's row, without its annotations.
fn track_from_row(row: &AnyRow) -> AnnotationTrack {
    AnnotationTrack {
        uuid: uuid_col(row, "uuid"),
        item: uuid_col(row, "item"),
        title: text(row, "title"),
        description: text(row, "description"),
        author: opt_text(row, "author"),
        is_public: int(row, "is_public") != 0,
        overlapping: int(row, "overlapping") != 0,
        annotations: Vec::new(),
        date_added: text(row, "date_added"),
        date_modified: text(row, "date_modified"),
    }
}

fn annotation_from_row(row: &AnyRow) -> Annotation {
    Annotation {
        uuid: uuid_col(row, "uuid"),
        track: uuid_col(row, "track"),
        title: text(row, "title"),
        description: text(row, "description"),
        author: opt_text(row, "author"),
        start_time: float(row, "start_time").unwrap_or(0.0),
        stop_time: float(row, "stop_time").unwrap_or(0.0),
        results: serde_json::from_str(&text(row, "results")).unwrap_or_default(),
        date_added: text(row, "date_added"),
        date_modified: text(row, "date_modified"),
    }
}

/// The first two annotations (sorted by start) that overlap, if any.
fn first_overlap(sorted: &[Annotation]) -> Option<(&Annotation, &Annotation)> {
    sorted.windows(2).find(|w| w[1].start_time < w[0].stop_time).map(|w| (&w[0], &w[1]))
}

impl AnnotationTrack {
    /// The track as a result, for the item's exports: its annotations as labelled segments
    /// (points last 0 s), labelled by their titles. Its id is `annotations.<n>` (the track's
    /// place among the item's), its name the track's title.
    pub fn to_result(&self, n: usize, item: &Item) -> crate::results::AnalyzerResult {
        use crate::results::{AnalyzerResult, AudioMetadata, IdMetadata, LabelMetadata, ResultData};
        let mut names: Vec<&str> = self.annotations.iter().map(|a| a.title.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let code = |title: &str| names.binary_search(&title).unwrap_or(0) as i64;
        let labels = LabelMetadata {
            label: names.iter().enumerate().map(|(i, n)| (i as i64, n.to_string())).collect(),
            description: Default::default(),
            label_type: "mono".into(),
        };
        let data = ResultData::segment_label(
            self.annotations.iter().map(|a| a.start_time).collect(),
            self.annotations.iter().map(|a| a.stop_time - a.start_time).collect(),
            self.annotations.iter().map(|a| code(&a.title)).collect(),
            labels,
        );
        AnalyzerResult {
            id_metadata: IdMetadata {
                id: format!("annotations.{n}"),
                name: self.title.clone(),
                unit: String::new(),
                description: self.description.clone(),
                date: self.date_modified.clone(),
                version: String::new(),
                author: self.author.clone().unwrap_or_default(),
                proc_uuid: self.uuid.to_string(),
                res_uuid: self.uuid.to_string(),
            },
            data_mode: data.data_mode,
            time_mode: data.time_mode,
            data_object: data.data_object,
            audio_metadata: AudioMetadata {
                uri: item.file_name.clone(),
                start: 0.0,
                duration: item.audio_duration.unwrap_or(0.0),
                is_segment: false,
                sha256: Some(item.sha256.clone()),
                channels: item.channels as u16,
                samplerate: item.samplerate as u32,
                channels_management: "source".into(),
            },
            frame_metadata: None,
            label_metadata: data.label_metadata,
            parameters: serde_json::json!({ "overlapping": self.overlapping, "is_public": self.is_public }),
        }
    }
}
