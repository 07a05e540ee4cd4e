//! Items: one media file each (uploaded, fetched from a URL, or under a media root) with what
//! was read from it when it was added.

use super::item_pages::Key;
use super::{
    Page, PageRequest, Store, StoreError, Viewer, Where, db, files, float, int, not_found, opt_int, opt_text, text,
};
use crate::media::Input;
use crate::media::admission::OpenedFile;
use crate::media::gst::{MediaInfo, media_info};
use sqlx::any::AnyRow;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug, serde::Serialize)]
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
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    /// Words found in the title, description, artist, album or file name.
    pub q: Option<String>,
    pub author: Option<String>,
    pub is_public: Option<bool>,
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
    pub async fn add_item(
        &self,
        uuid: uuid::Uuid,
        location: Location,
        file_name: &str,
        new: NewItem,
        author: Option<uuid::Uuid>,
        max_duration_s: f64,
    ) -> Result<Item, StoreError> {
        match self.add(uuid, location, file_name, new, author, max_duration_s, false).await? {
            Added::New(item) | Added::Duplicate(item) => Ok(item),
        }
    }

    /// As [`add_item`](Self::add_item), unless an item of the same content (SHA-256) exists:
    /// then nothing is stored and that item is returned (what a folder import reports).
    pub async fn add_item_unless_duplicate(
        &self,
        uuid: uuid::Uuid,
        location: Location,
        file_name: &str,
        new: NewItem,
        author: Option<uuid::Uuid>,
        max_duration_s: f64,
    ) -> Result<Added, StoreError> {
        self.add(uuid, location, file_name, new, author, max_duration_s, true).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn add(
        &self,
        uuid: uuid::Uuid,
        location: Location,
        file_name: &str,
        new: NewItem,
        author: Option<uuid::Uuid>,
        max_duration_s: f64,
        unless_duplicate: bool,
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
        if unless_duplicate && let Some(existing) = self.item_with_content(info.sha256.as_deref()).await? {
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

    /// Items `viewer` sees, newest first.
    pub async fn items(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        page: PageRequest,
    ) -> Result<Arc<Page<Item>>, StoreError> {
        let pages = &self.item_pages;
        let key = Key::new(viewer, filter, page);
        match pages.get(&key) {
            Ok(kept) => Ok(kept),
            Err(generation) => {
                let read = Arc::new(self.read_items(viewer, filter, page).await?);
                pages.put(key, generation, read.clone());
                Ok(read)
            }
        }
    }

    async fn read_items(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        page: PageRequest,
    ) -> Result<Page<Item>, StoreError> {
        let filter = Where::default()
            .visible_to(viewer)
            .and_some("author = ?", filter.author.clone())
            .and_some("is_public = ?", filter.is_public.map(i64::from))
            .and_some(
                "search_text LIKE ? ESCAPE '\\'",
                filter.q.as_deref().map(|q| format!("%{}%", like_escaped(&q.to_lowercase()))),
            );
        let (count, rows) = self.page_rows("items", &filter, "date_added DESC, uuid DESC", page).await?;
        Ok(Page { count, rows: rows.iter().map(row_to_item).collect() })
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
