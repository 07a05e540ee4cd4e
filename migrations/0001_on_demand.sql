-- The on-demand server's schema. Portable SQL: it runs unchanged on SQLite and PostgreSQL.
-- Ids are UUIDs as text, times RFC 3339 UTC text (sortable), JSON as text, flags 0/1.

CREATE TABLE users (
    uuid TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    date_added TEXT NOT NULL
);

CREATE TABLE items (
    uuid TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    author TEXT REFERENCES users (uuid),
    is_public BIGINT NOT NULL DEFAULT 0,
    -- Exactly one of: a file in the data directory (relative path), a file under a media root.
    source_file TEXT,
    source_path TEXT,
    source_url TEXT NOT NULL DEFAULT '',
    file_name TEXT NOT NULL DEFAULT '',
    mime_type TEXT NOT NULL DEFAULT '',
    codec TEXT NOT NULL DEFAULT '',
    container TEXT NOT NULL DEFAULT '',
    bitrate BIGINT,
    audio_duration DOUBLE PRECISION,
    samplerate BIGINT NOT NULL DEFAULT 0,
    channels BIGINT NOT NULL DEFAULT 0,
    size_bytes BIGINT NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL,
    artist TEXT NOT NULL DEFAULT '',
    album TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);
CREATE INDEX items_sha256 ON items (sha256);
-- Lists are newest first, with the uuid as tie-break: one index walk, no sort.
CREATE INDEX items_date ON items (date_added, uuid);
-- Who sees what; also the narrowest index, which is what COUNT(*) walks (10x faster than
-- walking a wide one).
CREATE INDEX items_visibility ON items (is_public, author);

CREATE TABLE selections (
    uuid TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    author TEXT REFERENCES users (uuid),
    is_public BIGINT NOT NULL DEFAULT 0,
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);
CREATE INDEX selections_date ON selections (date_added, uuid);
CREATE TABLE selection_items (
    selection TEXT NOT NULL REFERENCES selections (uuid) ON DELETE CASCADE,
    item TEXT NOT NULL REFERENCES items (uuid) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (selection, item)
);
CREATE TABLE selection_children (
    parent TEXT NOT NULL REFERENCES selections (uuid) ON DELETE CASCADE,
    child TEXT NOT NULL REFERENCES selections (uuid) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (parent, child)
);

CREATE TABLE presets (
    uuid TEXT PRIMARY KEY,
    processor TEXT NOT NULL,
    -- Canonical JSON: every default filled in, keys sorted.
    parameters TEXT NOT NULL,
    author TEXT REFERENCES users (uuid),
    is_public BIGINT NOT NULL DEFAULT 1,
    read_only BIGINT NOT NULL DEFAULT 0,
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);

CREATE TABLE experiences (
    uuid TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    author TEXT REFERENCES users (uuid),
    is_public BIGINT NOT NULL DEFAULT 0,
    read_only BIGINT NOT NULL DEFAULT 0,
    -- Decode options (JSON object), applied to every preset of the experience.
    decoder TEXT NOT NULL DEFAULT '{}',
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL
);
CREATE TABLE experience_presets (
    experience TEXT NOT NULL REFERENCES experiences (uuid) ON DELETE CASCADE,
    preset TEXT NOT NULL REFERENCES presets (uuid),
    position BIGINT NOT NULL,
    PRIMARY KEY (experience, position)
);

CREATE TABLE tasks (
    uuid TEXT PRIMARY KEY,
    experience TEXT NOT NULL REFERENCES experiences (uuid),
    item TEXT REFERENCES items (uuid) ON DELETE SET NULL,
    selection TEXT REFERENCES selections (uuid) ON DELETE SET NULL,
    author TEXT REFERENCES users (uuid),
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    date_added TEXT NOT NULL,
    date_modified TEXT NOT NULL,
    date_started TEXT,
    date_finished TEXT
);
CREATE INDEX tasks_date ON tasks (date_added, uuid);
CREATE INDEX tasks_author ON tasks (author);

-- The queue: one job per (task, item). A worker owns a running job while its lease lasts.
CREATE TABLE jobs (
    uuid TEXT PRIMARY KEY,
    task TEXT NOT NULL REFERENCES tasks (uuid) ON DELETE CASCADE,
    item TEXT NOT NULL,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    -- Unix seconds.
    lease_expires DOUBLE PRECISION,
    error TEXT NOT NULL DEFAULT '',
    date_added TEXT NOT NULL,
    date_started TEXT,
    date_finished TEXT
);
CREATE INDEX jobs_claim ON jobs (status, date_added);
CREATE INDEX jobs_task ON jobs (task);

-- One result per (item, preset); its data is content-addressed by cache_key, so the same
-- content analysed with the same processor, version and parameters is computed once.
CREATE TABLE results (
    uuid TEXT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (uuid) ON DELETE CASCADE,
    preset TEXT NOT NULL REFERENCES presets (uuid),
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
    UNIQUE (item, preset)
);
CREATE INDEX results_cache ON results (cache_key, status);
CREATE INDEX results_task ON results (task);
CREATE INDEX results_date ON results (date_added, uuid);
