-- Analysis track layouts (TimeSide's `analysis_tracks`): which results a user shows as tracks
-- on an item, in order, kept per (item, user) so that the item opens as it was left; the
-- item's owner's layout is what others see until they arrange their own. `author` is '' for
-- the API token's admin. `tracks` is a JSON array of {result_id, color}.
CREATE TABLE analysis_track_layouts (
    item TEXT NOT NULL REFERENCES items (uuid) ON DELETE CASCADE,
    author TEXT NOT NULL DEFAULT '',
    tracks TEXT NOT NULL DEFAULT '[]',
    date_modified TEXT NOT NULL,
    PRIMARY KEY (item, author)
);
