-- The ledger of raw objects: every archived response and whether its rows are loaded,
-- so that a run can find what an earlier run archived but could not load.

CREATE TABLE raw_objects (
    key text PRIMARY KEY,
    woeid bigint NOT NULL,
    as_of timestamptz NOT NULL,
    api_version text NOT NULL CHECK (api_version IN ('2', '1.1')),
    fetched_at timestamptz NOT NULL,
    status_code integer NOT NULL,
    is_sample boolean NOT NULL DEFAULT false,
    state text NOT NULL DEFAULT 'archived'
        CHECK (state IN ('archived', 'loaded', 'rejected')),
    reason text CHECK ((state = 'rejected') = (reason IS NOT NULL)),
    rows integer CHECK (rows >= 0),
    new_rows integer CHECK (new_rows >= 0),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    loaded_at timestamptz
);

CREATE INDEX raw_objects_archived ON raw_objects (fetched_at) WHERE state = 'archived';

COMMENT ON TABLE raw_objects IS
    'Raw archive objects and their load state; the archive stays the source of truth.';
COMMENT ON COLUMN raw_objects.key IS 'Archive key of the response body.';
COMMENT ON COLUMN raw_objects.as_of IS
    'Snapshot time: the requested one, replaced by the body''s own for v1.1 on load.';
COMMENT ON COLUMN raw_objects.status_code IS 'HTTP status the X API answered with.';
COMMENT ON COLUMN raw_objects.state IS
    'archived: stored, rows not yet loaded; loaded: rows in trend_observations; '
    'rejected: not a trend list, see reason.';
COMMENT ON COLUMN raw_objects.rows IS 'Trend rows the object holds once normalised.';
COMMENT ON COLUMN raw_objects.new_rows IS
    'Rows the load that marked it inserted; 0 when all were present already.';
