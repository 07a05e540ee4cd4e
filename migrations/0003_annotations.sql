-- Annotation tracks (TimeSide's `annotation_tracks`): a user's layer of regions and points on
-- an item, public or private; and their annotations (`annotations`): a span from start_time
-- to stop_time seconds (a point when they are equal), with a title (the label), and the
-- results it refers to. Deleting an item deletes its tracks, deleting a track its annotations.
CREATE TABLE annotation_tracks (
    uuid TEXT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (uuid) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    author TEXT REFERENCES users (uuid),
    is_public BIGINT NOT NULL DEFAULT 0,
    overlapping BIGINT NOT NULL DEFAULT 1,
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);
CREATE INDEX annotation_tracks_item ON annotation_tracks (item, date_added);
CREATE TABLE annotations (
    uuid TEXT PRIMARY KEY,
    track TEXT NOT NULL REFERENCES annotation_tracks (uuid) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    author TEXT REFERENCES users (uuid),
    start_time DOUBLE PRECISION NOT NULL,
    stop_time DOUBLE PRECISION NOT NULL,
    results TEXT NOT NULL DEFAULT '[]',
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);
CREATE INDEX annotations_track ON annotations (track, start_time);
