-- Trend names are kept exactly as received, so the key (woeid, name, as_of) carries the
-- whole text. A btree index entry holds at most about 2,700 bytes; a longer name would
-- fail the whole load with "index row size exceeds btree maximum" (or slip in only when
-- it happens to compress well). The pipeline refuses such snapshots with a message
-- first; this constraint holds every other writer to the same rule.
ALTER TABLE trend_observations
    ADD CONSTRAINT trend_observations_name_fits_key CHECK (octet_length(name) <= 2000);

COMMENT ON CONSTRAINT trend_observations_name_fits_key ON trend_observations IS
    'Names up to 2,000 UTF-8 bytes, so that every key fits a btree index entry.';
