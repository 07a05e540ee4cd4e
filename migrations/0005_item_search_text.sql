-- What the item list's text search matches: title, description, artist, album and file name,
-- lower-cased in Unicode by the server (SQLite's LOWER folds ASCII only), filled on write.
ALTER TABLE items ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
