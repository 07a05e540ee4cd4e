-- Collections and archives' files: what an archive says of an item beyond its file's tags (a folder import's
-- manifest): the collection it belongs to, and the rest (date, external id, free key/values) as
-- a JSON object.
ALTER TABLE items ADD COLUMN collection TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
-- The item's ingest task (none: nothing to wait for), and its state as the task's status says
-- (ingesting, ready, failed), kept with the item so that lists filter on it.
ALTER TABLE items ADD COLUMN ingest_task TEXT;
ALTER TABLE items ADD COLUMN ingest_state TEXT NOT NULL DEFAULT 'ready';
-- A file found shorter than its container announces when decoded (a truncated copy): the
-- duration announced (audio_duration then says what decodes); NULL when complete.
ALTER TABLE items ADD COLUMN announced_duration DOUBLE PRECISION;
CREATE INDEX items_collection ON items (collection, date_added, uuid);
CREATE INDEX items_ingest_task ON items (ingest_task);
-- Lists in each order the library offers walk an index (keyset pagination: the first page costs
-- the same at item 100 000 as at item 100); the expressions are those the queries order by.
CREATE INDEX items_title ON items (LOWER(title), uuid);
CREATE INDEX items_file_name ON items (LOWER(file_name), uuid);
CREATE INDEX items_duration ON items (COALESCE(audio_duration, -1), uuid);
