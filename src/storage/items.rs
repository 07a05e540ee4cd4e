//! Items: one media file each (uploaded, fetched from a URL, or under a media root) with what
//! was read from it when it was added.

use super::item_pages::{self, KeptPage, Key};
use super::{
    Page, PageRequest, Param, Store, StoreError, Viewer, Where, db, files, float, int, not_found, opt_int, opt_text,
    text,
};
use crate::media::Input;
use crate::media::admission::OpenedFile;
use crate::media::gst::{MediaInfo, media_info};
use sqlx::any::AnyRow;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Item {
    pub uuid: uuid::Uuid,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub is_public: bool,
    pub source_url: String,
    pub file_name: String,
    pub mime_type: String,
    pub codec: String,
    pub container: String,
    pub bitrate: Option<i64>,
    pub audio_duration: Option<f64>,
    pub samplerate: i64,
    pub channels: i64,
    pub size_bytes: i64,
    pub sha256: String,
    pub artist: String,
    pub album: String,
    pub tags: serde_json::Value,
    /// The collection the item belongs to (a manifest's `collection`), or empty.
    pub collection: String,
    /// What an archive says of the item besides its tags (a manifest's date, external id and
    /// free key/values): a JSON object.
    pub metadata: serde_json::Value,
    /// `ingesting` while the item's ingest task runs, `ready`, or `failed` (see
    /// `items.ingest_experience`).
    pub ingest_state: String,
    /// The item's ingest task, if it has one.
    pub ingest_task: Option<String>,
    /// Whether decoding found the file shorter than its container announces (a truncated
    /// copy): `audio_duration` is then what decodes, `announced_duration` what it says.
    pub truncated: bool,
    pub announced_duration: Option<f64>,
    pub date_added: String,
    pub date_modified: String,
    /// Where the media is: in the data directory or under a media root (not sent to clients).
    #[serde(skip)]
    pub location: Location,
}

#[derive(Clone, Debug, Default)]
pub enum Location {
    /// Relative to the data directory.
    DataDir(String),
    /// Under a configured media root.
    MediaRoot(PathBuf),
    #[default]
    Missing,
}

impl Item {
    /// The media's rate, channels and duration, when its probe found them (what the cost of a
    /// pass on it is computed from).
    pub fn audio_shape(&self) -> Option<crate::processors::cost::AudioShape> {
        let duration_s = self.audio_duration?;
        (self.samplerate > 0 && self.channels > 0).then_some(crate::processors::cost::AudioShape {
            samplerate: self.samplerate as u32,
            channels: self.channels as u16,
            duration_s,
        })
    }
}

/// What adding an item unless it is a duplicate did.
#[derive(Debug)]
pub enum Added {
    New(Item),
    /// Nothing was stored: this item has the same content.
    Duplicate(Item),
}

/// What a client gives for a new item; empty fields are filled from the media's tags.
#[derive(Clone, Debug, Default)]
pub struct NewItem {
    pub title: String,
    pub description: String,
    pub is_public: bool,
    pub source_url: String,
    pub artist: String,
    pub album: String,
    pub collection: String,
    /// Free key/values (see [`Item::metadata`]).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// An item of the same content is returned instead of a new one (see [`Store::add_item`]).
    pub unless_duplicate: bool,
}

/// The fields a `PATCH` may change.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub artist: Option<String>,
    pub album: Option<String>,
}

/// Filters of the item list.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct ItemFilter {
    /// Words found in the title, description, artist, album, file name or collection.
    pub q: Option<String>,
    pub author: Option<String>,
    pub is_public: Option<bool>,
    pub collection: Option<String>,
    /// The media's MIME type (`audio/flac`), or its subtype (`flac`).
    pub mime_type: Option<String>,
    /// `ingesting`, `ready` or `failed`.
    pub ingest_state: Option<String>,
}

/// The orders of the item list: each walks an index (see migration 8), the uuid breaking ties.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
pub enum ItemOrder {
    #[default]
    DateAdded,
    Title,
    FileName,
    Duration,
}

/// An order of the item list and its direction.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
pub struct ItemSort {
    pub order: ItemOrder,
    pub descending: bool,
}

/// The ingest states an item may be in.
pub const INGEST_STATES: [&str; 3] = ["ingesting", "ready", "failed"];

impl ItemSort {
    /// Newest first: the list's default.
    pub const NEWEST: ItemSort = ItemSort { order: ItemOrder::DateAdded, descending: true };

    /// `date_added`, `title`, `file_name` or `duration`, `-` first for descending.
    pub fn parse(text: &str) -> Result<ItemSort, String> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let order = match name {
            "date_added" | "date" => ItemOrder::DateAdded,
            "title" => ItemOrder::Title,
            "file_name" => ItemOrder::FileName,
            "duration" | "audio_duration" => ItemOrder::Duration,
            other => {
                return Err(format!(
                    "sort: `{other}` is not an order (date_added, title, file_name, duration; `-` first for descending)"
                ));
            }
        };
        Ok(ItemSort { order, descending })
    }

    /// What rows are ordered by (the expression its index is on).
    fn expression(self) -> &'static str {
        match self.order {
            ItemOrder::DateAdded => "date_added",
            ItemOrder::Title => "LOWER(title)",
            ItemOrder::FileName => "LOWER(file_name)",
            ItemOrder::Duration => "COALESCE(audio_duration, -1)",
        }
    }

    fn sql(self) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!("{} {dir}, uuid {dir}", self.expression())
    }

    /// The value of this order's expression for `item` (what a cursor after it holds).
    fn key_of(self, item: &Item) -> Param {
        match self.order {
            ItemOrder::DateAdded => Param::Text(item.date_added.clone()),
            // SQL's LOWER folds ASCII only (SQLite): the cursor must hold the same value.
            ItemOrder::Title => Param::Text(item.title.to_ascii_lowercase()),
            ItemOrder::FileName => Param::Text(item.file_name.to_ascii_lowercase()),
            ItemOrder::Duration => Param::Float(item.audio_duration.unwrap_or(-1.0)),
        }
    }
}

/// Where a keyset page starts: after the row with this sort key and uuid. Clients hold it as
/// an opaque string (`cursor`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    key: Param,
    uuid: uuid::Uuid,
}

impl Cursor {
    /// The cursor as a URL-safe string: hex of `[key, uuid]` as JSON.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            Param::Text(t) => serde_json::Value::from(t.as_str()),
            Param::Int(i) => serde_json::Value::from(*i),
            Param::Float(f) => serde_json::Value::from(*f),
        };
        let json = serde_json::json!([key, self.uuid]).to_string();
        json.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(text: &str) -> Result<Cursor, String> {
        let bad = || format!("cursor: `{}` is not a cursor this list gave", text.chars().take(64).collect::<String>());
        if !text.len().is_multiple_of(2) || text.len() > 8192 {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> =
            (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect();
        let value: serde_json::Value = serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        let uuid = value[1].as_str().and_then(|u| uuid::Uuid::parse_str(u).ok()).ok_or_else(bad)?;
        let key = match &value[0] {
            serde_json::Value::String(s) => Param::Text(s.clone()),
            serde_json::Value::Number(n) if n.is_i64() => Param::Int(n.as_i64().unwrap_or_default()),
            serde_json::Value::Number(n) => Param::Float(n.as_f64().unwrap_or_default()),
            _ => return Err(bad()),
        };
        Ok(Cursor { key, uuid })
    }
}

/// One keyset page of items, and the cursor of the next if there is one.
#[derive(Debug)]
pub struct KeysetPage {
    pub rows: Vec<Item>,
    pub next: Option<Cursor>,
}

fn row_to_item(row: &AnyRow) -> Item {
    let location = match (opt_text(row, "source_file"), opt_text(row, "source_path")) {
        (Some(rel), _) => Location::DataDir(rel),
        (None, Some(abs)) => Location::MediaRoot(PathBuf::from(abs)),
        _ => Location::Missing,
    };
    Item {
        uuid: super::uuid_col(row, "uuid"),
        title: text(row, "title"),
        description: text(row, "description"),
        author: opt_text(row, "author"),
        is_public: int(row, "is_public") != 0,
        source_url: text(row, "source_url"),
        file_name: text(row, "file_name"),
        mime_type: text(row, "mime_type"),
        codec: text(row, "codec"),
        container: text(row, "container"),
        bitrate: opt_int(row, "bitrate"),
        audio_duration: float(row, "audio_duration"),
        samplerate: int(row, "samplerate"),
        channels: int(row, "channels"),
        size_bytes: int(row, "size_bytes"),
        sha256: text(row, "sha256"),
        artist: text(row, "artist"),
        album: text(row, "album"),
        tags: super::json(row, "tags"),
        collection: text(row, "collection"),
        metadata: super::json(row, "metadata"),
        ingest_state: text(row, "ingest_state"),
        ingest_task: opt_text(row, "ingest_task"),
        truncated: float(row, "announced_duration").is_some(),
        announced_duration: float(row, "announced_duration"),
        date_added: text(row, "date_added"),
        date_modified: text(row, "date_modified"),
        location,
    }
}

/// The container's MIME type as a browser knows it (GStreamer names some its own way).
fn mime_type(info: &MediaInfo) -> String {
    let name = info.container.as_deref().unwrap_or(&info.mime);
    match name {
        "audio/x-wav" => "audio/wav",
        "audio/x-flac" => "audio/flac",
        "audio/mpeg" | "application/x-id3" => "audio/mpeg",
        "application/ogg" | "audio/ogg" => "audio/ogg",
        "audio/x-m4a" | "video/quicktime" => "audio/mp4",
        "video/webm" | "audio/webm" => "audio/webm",
        other => other,
    }
    .to_string()
}

impl Store {
    /// Adds the media at `media` (already in place: see [`Location`]) as a new item by `author`.
    /// The media is read first (GStreamer's discoverer and a SHA-256 of the bytes); what is not
    /// decodable audio is refused with the decoder's message, and nothing is stored; so is
    /// audio that decodes to more than `max_duration_s` of 48 kHz stereo (0: no limit).
    ///
    /// With [`NewItem::unless_duplicate`], when an item of the same content (SHA-256) exists,
    /// nothing is stored and that item is returned (what a folder import reports).
    pub async fn add_item(
        &self,
        uuid: uuid::Uuid,
        location: Location,
        file_name: &str,
        new: NewItem,
        author: Option<uuid::Uuid>,
        max_duration_s: f64,
    ) -> Result<Added, StoreError> {
        super::check_texts(&[
            ("title", Some(new.title.as_str()), super::MAX_TITLE),
            ("description", Some(new.description.as_str()), super::MAX_DESCRIPTION),
            ("artist", Some(new.artist.as_str()), super::MAX_TITLE),
            ("album", Some(new.album.as_str()), super::MAX_TITLE),
            ("collection", Some(new.collection.as_str()), super::MAX_TITLE),
        ])?;
        let metadata = serde_json::Value::Object(new.metadata.clone()).to_string();
        if metadata.len() > super::MAX_DESCRIPTION {
            return Err(StoreError::Invalid(vec![format!(
                "metadata: {} bytes of JSON, over the limit of {}",
                metadata.len(),
                super::MAX_DESCRIPTION
            )]));
        }
        let store = self.clone();
        let opened = tokio::task::spawn_blocking(move || store.open_media(&location).map(|m| (m, location)))
            .await
            .map_err(|e| StoreError::Io(e.to_string()))??;
        let (media, location) = opened;
        let info = probe(media, file_name).await?;
        if let Some(problem) = too_long(&info, max_duration_s) {
            return Err(StoreError::Media(format!("{file_name}: {problem}")));
        }
        if new.unless_duplicate
            && let Some(existing) = self.item_with_content(info.sha256.as_deref()).await?
        {
            return Ok(Added::Duplicate(existing));
        }
        // Tags are the file's: cut, not refused, when longer than a client may store.
        let tag = |key: &str| -> String {
            info.tags.get(key).map(|t| t.chars().take(super::MAX_TITLE).collect()).unwrap_or_default()
        };
        let title = if new.title.is_empty() {
            Some(tag("title")).filter(|t| !t.is_empty()).unwrap_or_else(|| file_name.to_string())
        } else {
            new.title
        };
        let given_or_tag = |given: String, key: &str| if given.is_empty() { tag(key) } else { given };
        let artist = given_or_tag(new.artist, "artist");
        let album = given_or_tag(new.album, "album");
        let (source_file, source_path) = match &location {
            Location::DataDir(rel) => (Some(rel.clone()), None),
            Location::MediaRoot(p) => (None, Some(p.display().to_string())),
            Location::Missing => (None, None),
        };
        let now = db::now();
        sqlx::query(
            "INSERT INTO items (uuid, title, description, author, is_public, source_file, source_path, source_url,
                file_name, mime_type, codec, container, bitrate, audio_duration, samplerate, channels, size_bytes,
                sha256, artist, album, tags, date_added, date_modified, search_text, collection, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22,
                $23, $24, $25)",
        )
        .bind(uuid.to_string())
        .bind(title.clone())
        .bind(new.description.clone())
        .bind(author.map(|a| a.to_string()))
        .bind(new.is_public as i64)
        .bind(source_file)
        .bind(source_path)
        .bind(new.source_url)
        .bind(file_name.to_string())
        .bind(mime_type(&info))
        .bind(info.codec.clone().unwrap_or_default())
        .bind(info.container.clone().unwrap_or_default())
        .bind(info.bitrate.map(i64::from))
        .bind(info.duration_s)
        .bind(info.samplerate as i64)
        .bind(info.channels as i64)
        .bind(info.size_bytes.unwrap_or_default() as i64)
        .bind(info.sha256.clone().unwrap_or_default())
        .bind(artist.clone())
        .bind(album.clone())
        .bind(serde_json::to_string(&info.tags).unwrap_or_default())
        .bind(now)
        .bind(search_text([&title, &new.description, &artist, &album, file_name, &new.collection]))
        .bind(new.collection.clone())
        .bind(metadata)
        .execute(&self.pool)
        .await?;
        self.items_changed().await;
        self.item(&Viewer::ADMIN, &uuid).await.map(Added::New)
    }

    /// The oldest item whose media has the SHA-256 `sha256`, whoever's it is.
    async fn item_with_content(&self, sha256: Option<&str>) -> Result<Option<Item>, StoreError> {
        let Some(sha256) = sha256.filter(|s| !s.is_empty()) else { return Ok(None) };
        let row = sqlx::query("SELECT * FROM items WHERE sha256 = $1 ORDER BY date_added, uuid LIMIT 1")
            .bind(sha256.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_item))
    }

    /// Stores what the text search of `item` matches (items stored before migration 5).
    async fn index_search(&self, item: &Item) -> Result<(), StoreError> {
        sqlx::query("UPDATE items SET search_text = $2 WHERE uuid = $1")
            .bind(item.uuid.to_string())
            .bind(search_text([
                &item.title,
                &item.description,
                &item.artist,
                &item.album,
                &item.file_name,
                &item.collection,
            ]))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Fills the search text of items stored before it existed.
    pub(crate) async fn index_unsearchable_items(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT * FROM items WHERE search_text = ''").fetch_all(&self.pool).await?;
        for row in &rows {
            self.index_search(&row_to_item(row)).await?;
        }
        Ok(())
    }

    /// The item, if `viewer` may see it (else not found, as if absent).
    pub async fn item(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<Item, StoreError> {
        let row = self.row("items", &Where::default().and("uuid = ?", uuid.to_string()).visible_to(viewer)).await?;
        row.as_ref().map(row_to_item).ok_or_else(|| not_found("item", uuid))
    }

    /// A numbered page of the items `viewer` sees, in `sort`'s order, with their count.
    pub async fn items(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        sort: ItemSort,
        page: PageRequest,
    ) -> Result<Arc<Page<Item>>, StoreError> {
        let pages = &self.item_pages;
        let key = Key::new(viewer, filter, sort, page);
        let generation = match pages.get(&key) {
            Ok(KeptPage::Numbered(kept)) => return Ok(kept),
            // (Numbered keys hold numbered pages: never.)
            Ok(KeptPage::Keyset(_)) => item_pages::NEVER_KEPT,
            Err(generation) => generation,
        };
        let filter = item_filter(viewer, filter);
        let (count, rows) = self.page_rows("items", &filter, &sort.sql(), page).await?;
        let read = Arc::new(Page { count, rows: rows.iter().map(row_to_item).collect() });
        pages.put(key, generation, KeptPage::Numbered(read.clone()));
        Ok(read)
    }

    /// The `size` items `viewer` sees that come after `after` in `sort`'s order (keyset
    /// pagination: an index walk, no count and no offset, so that any page costs the same
    /// whatever the number of items before it).
    pub async fn items_after(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        sort: ItemSort,
        after: Option<&Cursor>,
        size: u64,
    ) -> Result<Arc<KeysetPage>, StoreError> {
        let pages = &self.item_pages;
        let key = Key::after(viewer, filter, sort, after, size);
        let generation = match pages.get(&key) {
            Ok(KeptPage::Keyset(kept)) => return Ok(kept),
            // (Keyset keys hold keyset pages: never.)
            Ok(KeptPage::Numbered(_)) => item_pages::NEVER_KEPT,
            Err(generation) => generation,
        };
        let read = Arc::new(self.read_items_after(viewer, filter, sort, after, size).await?);
        pages.put(key, generation, KeptPage::Keyset(read.clone()));
        Ok(read)
    }

    async fn read_items_after(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        sort: ItemSort,
        after: Option<&Cursor>,
        size: u64,
    ) -> Result<KeysetPage, StoreError> {
        let mut filter = item_filter(viewer, filter);
        if let Some(cursor) = after {
            let op = if sort.descending { "<" } else { ">" };
            // The bound on the expression alone is what lets SQLite seek its index (it scans
            // from the start on a row-value comparison of an expression).
            let expr = sort.expression();
            let clause = format!("{expr} {op}= ? AND ({expr}, uuid) {op} (?, ?)");
            let params = [cursor.key.clone(), cursor.key.clone(), Param::Text(cursor.uuid.to_string())];
            filter = filter.and_each(&clause, params);
        }
        let n = filter.params.len();
        let sql = format!("SELECT * FROM items WHERE {} ORDER BY {} LIMIT ${}", filter.sql(), sort.sql(), n + 1);
        // One row more than the page says whether there is a next one.
        let rows =
            filter.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).bind(size as i64 + 1).fetch_all(&self.pool).await?;
        let mut rows: Vec<Item> = rows.iter().map(row_to_item).collect();
        let next = if rows.len() as u64 > size {
            rows.truncate(size as usize);
            rows.last().map(|last| Cursor { key: sort.key_of(last), uuid: last.uuid })
        } else {
            None
        };
        Ok(KeysetPage { rows, next })
    }

    /// A pass found the item's file shorter than its container announces: the item keeps what
    /// decodes as its duration, and the announced one beside it. Done once (the first pass
    /// that finds it; later passes find the same).
    pub async fn item_truncated(
        &self,
        item: &uuid::Uuid,
        truncation: crate::media::Truncation,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE items SET announced_duration = $2, audio_duration = $3, date_modified = $4
             WHERE uuid = $1 AND announced_duration IS NULL",
        )
        .bind(item.to_string())
        .bind(truncation.expected_s)
        .bind(truncation.decoded_s)
        .bind(db::now())
        .execute(&self.pool)
        .await?;
        if changed.rows_affected() > 0 {
            tracing::warn!(%item, announced_s = truncation.expected_s, decoded_s = truncation.decoded_s,
                "the item's file is truncated: it is analysed and played as far as it decodes");
            self.items_changed().await;
        }
        Ok(())
    }

    /// Records `task` as the item's ingest task, and its state as the task's status says now.
    pub async fn set_ingest_task(&self, item: &uuid::Uuid, task: &uuid::Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE items SET ingest_task = $2 WHERE uuid = $1")
            .bind(item.to_string())
            .bind(task.to_string())
            .execute(&self.pool)
            .await?;
        self.derive_ingest_state("uuid", &item.to_string()).await
    }

    /// A task's status changed: the state of the item it ingests (if any) follows.
    pub(crate) async fn ingest_task_changed(&self, task: &uuid::Uuid) -> Result<(), StoreError> {
        self.derive_ingest_state("ingest_task", &task.to_string()).await
    }

    /// Sets `ingest_state` from the status of the ingest task of the items whose `column` is
    /// `value`, in one statement: whoever runs it last (the task's end, or the recording of
    /// the task) writes the latest status.
    async fn derive_ingest_state(&self, column: &str, value: &str) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE items SET ingest_state = COALESCE((SELECT CASE WHEN t.status IN ('pending', 'running') THEN 'ingesting'
                    WHEN t.status = 'done' THEN 'ready' ELSE 'failed' END FROM tasks t WHERE t.uuid = items.ingest_task),
                 'ready')
             WHERE {column} = $1"
        );
        let changed = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value.to_string()).execute(&self.pool).await?;
        if changed.rows_affected() > 0 {
            self.items_changed().await;
        }
        Ok(())
    }

    pub async fn update_item(&self, viewer: &Viewer, uuid: &uuid::Uuid, patch: ItemPatch) -> Result<Item, StoreError> {
        super::check_texts(&[
            ("title", patch.title.as_deref(), super::MAX_TITLE),
            ("description", patch.description.as_deref(), super::MAX_DESCRIPTION),
            ("artist", patch.artist.as_deref(), super::MAX_TITLE),
            ("album", patch.album.as_deref(), super::MAX_TITLE),
        ])?;
        let item = self.item(viewer, uuid).await?;
        if !viewer.may_write(item.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("item `{uuid}` is not yours")));
        }
        sqlx::query(
            "UPDATE items SET title = $2, description = $3, is_public = $4, artist = $5, album = $6, date_modified = $7,
                search_text = $8
             WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .bind(patch.title.clone().unwrap_or_else(|| item.title.clone()))
        .bind(patch.description.clone().unwrap_or_else(|| item.description.clone()))
        .bind(patch.is_public.unwrap_or(item.is_public) as i64)
        .bind(patch.artist.clone().unwrap_or_else(|| item.artist.clone()))
        .bind(patch.album.clone().unwrap_or_else(|| item.album.clone()))
        .bind(db::now())
        .bind(search_text([
            patch.title.as_ref().unwrap_or(&item.title),
            patch.description.as_ref().unwrap_or(&item.description),
            patch.artist.as_ref().unwrap_or(&item.artist),
            patch.album.as_ref().unwrap_or(&item.album),
            &item.file_name,
            &item.collection,
        ]))
        .execute(&self.pool)
        .await?;
        self.items_changed().await;
        self.item(viewer, uuid).await
    }

    /// Deletes the item, its results' rows and its files in the data directory (media under a
    /// media root is the operator's and is left alone; result data may be shared with other
    /// items of the same content and stays).
    pub async fn delete_item(&self, viewer: &Viewer, uuid: &uuid::Uuid) -> Result<(), StoreError> {
        let item = self.item(viewer, uuid).await?;
        if !viewer.may_write(item.author.as_deref()) {
            return Err(StoreError::Forbidden(format!("item `{uuid}` is not yours")));
        }
        sqlx::query("DELETE FROM items WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await?;
        self.items_changed().await;
        if let Location::DataDir(_) = item.location {
            let _ = std::fs::remove_dir_all(self.files.media_dir(uuid));
        }
        let _ = std::fs::remove_dir_all(self.files.transcodes_of(uuid));
        let _ = std::fs::remove_dir_all(self.files.tiles_of(uuid));
        Ok(())
    }

    /// Every write to `items` ends here, once committed: kept list pages are stale.
    async fn items_changed(&self) {
        self.item_pages.invalidate();
        if self.engine == db::Engine::Postgres {
            // Other servers drop their pages too (see `item_pages`).
            let sent =
                sqlx::query("SELECT pg_notify($1, '')").bind(db::ITEMS_CHANGED_CHANNEL).execute(&self.pool).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "cannot tell other servers that an item changed");
            }
        }
    }

    /// Another process changed an item (the relay heard it): kept pages are stale.
    pub fn items_changed_elsewhere(&self) {
        self.item_pages.invalidate();
    }

    /// Whether this process hears other processes' item changes (PostgreSQL's LISTEN is up):
    /// list pages are kept only while it does.
    pub fn hearing_item_changes(&self, hearing: bool) {
        self.item_pages.set_active(hearing);
    }

    /// The path of an item's media on this machine.
    /// Where an item's media is, and the folders it must be found in when opened (the data
    /// directory, or the media roots for items read in place).
    pub fn media_place(&self, location: &Location) -> Option<(PathBuf, Vec<PathBuf>)> {
        match location {
            Location::DataDir(rel) => Some((self.files.resolve(rel)?, vec![self.files.root().to_path_buf()])),
            Location::MediaRoot(p) => Some((p.clone(), self.media_roots.to_vec())),
            Location::Missing => None,
        }
    }

    /// Opens an item's media for reading, checked on the opened file (see
    /// [`crate::media::admission::open_file`]): a file of a media root that has become a link
    /// out of it since the item was made is refused. Blocking.
    pub fn open_media(&self, location: &Location) -> Result<OpenedFile, StoreError> {
        let gone = || StoreError::Gone("the item's media file is missing".into());
        let (path, roots) = self.media_place(location).ok_or_else(gone)?;
        crate::media::admission::open_file(&path, &roots).map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "an item's media cannot be opened");
            gone()
        })
    }

    /// A fresh folder for a new item's media, and the path of its file named after `name`.
    pub fn new_media_file(&self, uuid: &uuid::Uuid, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.files.media_dir(uuid);
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(files::safe_file_name(name, "media")))
    }
}

/// Reads the media info of an opened file (blocking GStreamer work, off the runtime). Not
/// audio: `StoreError::Media` with the decoder's message, naming the file `name`.
pub async fn probe(media: OpenedFile, name: &str) -> Result<MediaInfo, StoreError> {
    let name = name.to_string();
    tokio::task::spawn_blocking(move || media_info_of(&media, &name))
        .await
        .map_err(|e| StoreError::Io(e.to_string()))?
}

/// What the text search matches (title, description, artist, album, file name, collection),
/// lower-cased in Unicode (see migration 5).
fn search_text(fields: [&str; 6]) -> String {
    fields.map(str::to_lowercase).join(" ")
}

/// What rows of `items` a list shows `viewer` under `filter`.
fn item_filter(viewer: &Viewer, filter: &ItemFilter) -> Where {
    let mime_type =
        filter.mime_type.as_deref().map(|m| if m.contains('/') { m.to_string() } else { format!("audio/{m}") });
    Where::default()
        .visible_to(viewer)
        .and_some("author = ?", filter.author.clone())
        .and_some("is_public = ?", filter.is_public.map(i64::from))
        .and_some("collection = ?", filter.collection.clone())
        .and_some("mime_type = ?", mime_type)
        .and_some("ingest_state = ?", filter.ingest_state.clone())
        .and_some(
            "search_text LIKE ? ESCAPE '\\'",
            filter.q.as_deref().map(|q| format!("%{}%", like_escaped(&q.to_lowercase()))),
        )
}

/// `text` for a LIKE pattern with `\\` as its escape: `%` and `_` match themselves.
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Why media is too long to be an item: its decoded size (duration × rate × channels) counted
/// as seconds of 48 kHz stereo, over `max_duration_s` (`items.max_duration_s`); 0: no limit.
fn too_long(info: &MediaInfo, max_duration_s: f64) -> Option<String> {
    let duration = info.duration_s?;
    let equivalent = duration * f64::from(info.samplerate) * f64::from(info.channels) / (48000.0 * 2.0);
    (max_duration_s > 0.0 && duration.max(equivalent) > max_duration_s).then(|| {
        format!(
            "{duration:.0} s of {} Hz, {} channels decodes to as much as {:.0} s of 48 kHz stereo, over the limit of \
             {max_duration_s:.0} s (items.max_duration_s)",
            info.samplerate,
            info.channels,
            duration.max(equivalent)
        )
    })
}

fn media_info_of(media: &OpenedFile, name: &str) -> Result<MediaInfo, StoreError> {
    let info = media_info(&Input::File(media.path())).map_err(|e| StoreError::Media(e.named(name).to_string()))?;
    if info.samplerate == 0 || info.channels == 0 {
        return Err(StoreError::Media(format!("{name}: no decodable audio stream")));
    }
    // A header with no samples after it (a WAV cut after its header, an empty FLAC): there is
    // nothing to analyze, play or draw.
    if info.duration_s.is_some_and(|d| d * f64::from(info.samplerate) < 1.0) {
        return Err(StoreError::Media(format!("{name}: holds no audio (its header announces no samples)")));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_hold_and_refuse_the_rest() {
        let uuid = uuid::Uuid::new_v4();
        for key in [Param::Text("chant d'été".into()), Param::Float(12.5), Param::Int(3)] {
            let cursor = Cursor { key, uuid };
            let text = cursor.encode();
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "URL-safe: {text}");
            assert_eq!(Cursor::decode(&text), Ok(cursor));
        }
        for bad in ["zz", "abc", "5b5d", "5b312c2278225d"] {
            let err = Cursor::decode(bad).expect_err("not a cursor");
            assert!(err.starts_with("cursor: "), "{err}");
        }
    }

    #[test]
    fn sorts_are_named_as_the_api_takes_them() {
        assert_eq!(ItemSort::parse("-title"), Ok(ItemSort { order: ItemOrder::Title, descending: true }));
        assert_eq!(ItemSort::parse("duration"), Ok(ItemSort { order: ItemOrder::Duration, descending: false }));
        assert!(ItemSort::parse("loudness").expect_err("no such order").contains("date_added, title"));
    }
}
