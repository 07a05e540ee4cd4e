//! Analysis track layouts (TimeSide's `analysis_tracks`): the results a user shows as tracks on
//! an item, in order. Each user who sees an item keeps a layout of their own; until they
//! arrange one, they see the item's owner's.

use super::items::Item;
use super::{Store, StoreError, Viewer, Where, db, text};

/// Most tracks in one layout.
pub const MAX_TRACKS: usize = 32;

/// One track of a layout: a result id (`onsets`, `loudness.short_term`) and its colour.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutTrack {
    /// The result's id: a processor (`onsets`) or one result of it (`loudness.short_term`).
    pub result_id: String,
    /// `#rrggbb`, or empty for the player's choice.
    #[serde(default)]
    pub color: String,
}

impl LayoutTrack {
    /// The processor whose result this is (`loudness` for `loudness.short_term`).
    pub fn processor(&self) -> &str {
        self.result_id.split('.').next().unwrap_or_default()
    }
}

/// Whose layout was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutSource {
    /// The viewer's own.
    Own,
    /// The item owner's.
    Owner,
}

fn author_key(user: Option<uuid::Uuid>) -> String {
    user.map(|u| u.to_string()).unwrap_or_default()
}

fn check(tracks: &[LayoutTrack]) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    if tracks.len() > MAX_TRACKS {
        problems.push(format!("tracks: at most {MAX_TRACKS}"));
    }
    for (n, t) in tracks.iter().enumerate() {
        let id_ok = !t.result_id.is_empty()
            && t.result_id.len() <= 200
            && t.result_id.chars().all(|c| c.is_ascii_alphanumeric() || "_.#-".contains(c));
        if !id_ok {
            problems.push(format!("tracks[{n}].result_id: `{}` is not a result id", t.result_id));
        }
        let color_ok = t.color.is_empty()
            || (t.color.len() == 7 && t.color.starts_with('#') && t.color[1..].chars().all(|c| c.is_ascii_hexdigit()));
        if !color_ok {
            problems.push(format!("tracks[{n}].color: `{}` is not #rrggbb", t.color));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(StoreError::Invalid(problems)) }
}

impl Store {
    /// The layout `viewer` sees on `item`: their own, else the item's owner's; none if neither
    /// arranged one.
    pub async fn analysis_layout(
        &self,
        viewer: &Viewer,
        item: &Item,
    ) -> Result<Option<(LayoutSource, Vec<LayoutTrack>)>, StoreError> {
        let mut candidates = vec![(LayoutSource::Own, author_key(viewer.user))];
        if let Some(owner) = item.author.clone().filter(|o| *o != candidates[0].1) {
            candidates.push((LayoutSource::Owner, owner));
        }
        for (source, author) in candidates {
            let filter = Where::default().and("item = ?", item.uuid.to_string()).and("author = ?", author);
            if let Some(row) = self.row("analysis_track_layouts", &filter).await? {
                let tracks = serde_json::from_str(&text(&row, "tracks")).unwrap_or_default();
                return Ok(Some((source, tracks)));
            }
        }
        Ok(None)
    }

    /// Keeps `tracks` as `viewer`'s layout on the item (which they must see).
    pub async fn set_analysis_layout(
        &self,
        viewer: &Viewer,
        item: &uuid::Uuid,
        tracks: &[LayoutTrack],
    ) -> Result<(), StoreError> {
        check(tracks)?;
        self.item(viewer, item).await?;
        let json = serde_json::to_string(tracks).map_err(|e| StoreError::Io(e.to_string()))?;
        sqlx::query(
            "INSERT INTO analysis_track_layouts (item, author, tracks, date_modified) VALUES ($1, $2, $3, $4)
             ON CONFLICT (item, author) DO UPDATE SET tracks = excluded.tracks, date_modified = excluded.date_modified",
        )
        .bind(item.to_string())
        .bind(author_key(viewer.user))
        .bind(json)
        .bind(db::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_checked_track_by_track() {
        let ok = LayoutTrack { result_id: "loudness.short_term".into(), color: "#4cc9f0".into() };
        assert!(check(std::slice::from_ref(&ok)).is_ok());
        assert_eq!(ok.processor(), "loudness");
        let bad = [
            LayoutTrack { result_id: "a b".into(), color: String::new() },
            LayoutTrack { result_id: "onsets".into(), color: "red".into() },
        ];
        let Err(StoreError::Invalid(problems)) = check(&bad) else { panic!("refused") };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("tracks[0].result_id") && problems[1].starts_with("tracks[1].color"));
        assert!(check(&vec![ok; MAX_TRACKS + 1]).is_err());
    }
}
