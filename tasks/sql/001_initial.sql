-- Places X publishes trend lists for, and the trends seen there, one row per trend
-- per location per snapshot.

CREATE TABLE locations (
    woeid bigint PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('worldwide', 'country', 'town', 'unknown')),
    country_code text,
    added_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE locations IS 'Trend locations, keyed by Yahoo WOEID.';

CREATE TABLE trend_observations (
    woeid bigint NOT NULL REFERENCES locations (woeid),
    as_of timestamptz NOT NULL,
    rank smallint NOT NULL CHECK (rank BETWEEN 1 AND 50),
    name text NOT NULL CHECK (name <> ''),
    tweet_volume bigint CHECK (tweet_volume >= 0),
    promoted boolean NOT NULL,
    promoted_content jsonb,
    url text,
    query text,
    api_version text NOT NULL CHECK (api_version IN ('2', '1.1')),
    raw_object_key text NOT NULL,
    fetched_at timestamptz NOT NULL,
    flow_run_id uuid,
    is_sample boolean NOT NULL DEFAULT false,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (woeid, name, as_of)
);

CREATE INDEX trend_observations_as_of ON trend_observations (as_of, woeid);

COMMENT ON TABLE trend_observations IS
    'One row per trend per location per snapshot; (woeid, name, as_of) is unique.';
COMMENT ON COLUMN trend_observations.as_of IS
    'Snapshot time: the API''s own for v1.1, the fetch hour for v2.';
COMMENT ON COLUMN trend_observations.rank IS 'Position in the list, 1 is the top.';
COMMENT ON COLUMN trend_observations.name IS 'Trend text exactly as received.';
COMMENT ON COLUMN trend_observations.tweet_volume IS
    'Posts in the last 24 hours, worldwide; null when X did not say. Never sum it '
    'across locations.';
COMMENT ON COLUMN trend_observations.promoted IS
    'True when X marked the trend as paid; promoted_content holds what it sent.';
COMMENT ON COLUMN trend_observations.url IS
    'Search URL of the trend; sent by the v1.1 API only.';
COMMENT ON COLUMN trend_observations.query IS
    'URL-encoded search query of the trend; sent by the v1.1 API only.';
COMMENT ON COLUMN trend_observations.raw_object_key IS
    'Archive key of the response this row came from.';
COMMENT ON COLUMN trend_observations.is_sample IS
    'True for rows loaded from the bundled sample responses.';
