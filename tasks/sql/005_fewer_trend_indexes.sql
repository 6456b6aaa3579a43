-- Two btrees on trend_observations instead of four: every row a load writes pays for
-- each index, and two of the four were reorderings of the other two.
--
-- The primary key leads with the name. It refuses a second row for a (woeid, name,
-- as_of) as before, and it is now also the by-name order that trend_lifetimes and
-- trend_city_arrivals read, which trend_observations_name gave them.
--
-- The UTC-day index gains as_of and drops its sample filter. It still finds the rows
-- of a day and location for daily_top_trends and trend_kind_share, and it now also
-- finds a snapshot's rows by day, woeid and as_of, which is how the loader recognises
-- snapshots it has loaded already; trend_observations_as_of did that before.

DROP INDEX trend_observations_name;
DROP INDEX trend_observations_as_of;
DROP INDEX trend_observations_day;

ALTER TABLE trend_observations
    DROP CONSTRAINT trend_observations_pkey,
    ADD CONSTRAINT trend_observations_pkey PRIMARY KEY (name, woeid, as_of);

CREATE INDEX trend_observations_day
    ON trend_observations (((as_of AT TIME ZONE 'UTC')::date), woeid, as_of);

COMMENT ON INDEX trend_observations_pkey IS
    'One row per trend, location and snapshot; also every sighting of one trend, in '
    'location and time order, for trend_lifetimes and trend_city_arrivals.';
COMMENT ON INDEX trend_observations_day IS
    'The rows of a UTC day and location, for daily_top_trends and trend_kind_share, '
    'and of one snapshot, for the loader''s check of snapshots already loaded.';
