-- Results belong to whoever made them: one row per (item, preset, author), so another user's
-- task on a public item makes rows of its own instead of taking over the item author's.
-- `author` is the task's author ('' for the API token's admin), as in jobs. The table is rebuilt
-- because SQLite cannot change a UNIQUE constraint in place.
CREATE TABLE results_by_author (
    uuid TEXT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (uuid) ON DELETE CASCADE,
    preset TEXT NOT NULL REFERENCES presets (uuid),
    author TEXT NOT NULL DEFAULT '',
    task TEXT,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    run_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    processor TEXT NOT NULL,
    version TEXT NOT NULL,
    parameters TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    mime_type TEXT NOT NULL DEFAULT '',
    -- Relative to the data directory.
    data_path TEXT,
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL,
    UNIQUE (item, preset, author)
);
INSERT INTO results_by_author (uuid, item, preset, author, task, status, error, run_time, processor, version,
    parameters, cache_key, mime_type, data_path, date_added, date_modified)
SELECT uuid, item, preset, COALESCE((SELECT author FROM tasks WHERE tasks.uuid = results.task), ''), task, status,
    error, run_time, processor, version, parameters, cache_key, mime_type, data_path, date_added, date_modified
FROM results;
DROP TABLE results;
ALTER TABLE results_by_author RENAME TO results;
CREATE INDEX results_cache ON results (cache_key, status);
CREATE INDEX results_task ON results (task);
CREATE INDEX results_date ON results (date_added, uuid);
CREATE INDEX results_item ON results (item, preset);
