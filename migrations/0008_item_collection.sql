-- What an archive says of an item beyond its file's tags (a folder import's manifest): the
-- collection it belongs to (listed and filtered on), and the rest (date, external id, free
-- key/values) as a JSON object.
ALTER TABLE items ADD COLUMN collection TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE INDEX items_collection ON items (collection);
