-- How long each finished job ran, in seconds from its last claim (/metrics' job durations).
ALTER TABLE jobs ADD COLUMN run_seconds DOUBLE PRECISION;
