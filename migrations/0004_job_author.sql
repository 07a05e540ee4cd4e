-- Whose job it is (the task's author, '' for the API token's admin): the queue claims jobs
-- fairly across authors and counts each author's running jobs.
ALTER TABLE jobs ADD COLUMN author TEXT NOT NULL DEFAULT '';
UPDATE jobs SET author = COALESCE((SELECT author FROM tasks WHERE tasks.uuid = jobs.task), '');
CREATE INDEX jobs_author ON jobs (author, status);
