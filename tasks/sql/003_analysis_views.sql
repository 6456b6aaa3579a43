-- Read-only views for BI tools and the chart report. Days are UTC calendar days.
-- Every view leaves out rows loaded from the bundled samples (is_sample): they are
-- demonstration data filed under the run's own hour and would pass for real trends.

CREATE INDEX trend_observations_day
    ON trend_observations (((as_of AT TIME ZONE 'UTC')::date), woeid)
    WHERE NOT is_sample;

CREATE INDEX trend_observations_name
    ON trend_observations (name, woeid, as_of) INCLUDE (rank)
    WHERE NOT is_sample;

COMMENT ON INDEX trend_observations_day IS
    'Finds the rows of a UTC day (and location) for daily_top_trends and '
    'trend_kind_share.';
COMMENT ON INDEX trend_observations_name IS
    'Finds every sighting of one trend, in city and time order, for trend_lifetimes '
    'and trend_city_arrivals.';

CREATE VIEW daily_top_trends AS
SELECT
    (o.as_of AT TIME ZONE 'UTC')::date AS day,
    o.woeid,
    l.name AS location,
    o.name,
    min(o.rank) AS best_rank,
    count(*) AS snapshots,
    max(o.tweet_volume) AS peak_tweet_volume
FROM trend_observations AS o
JOIN locations AS l USING (woeid)
WHERE NOT o.is_sample
GROUP BY 1, o.woeid, l.name, o.name;

COMMENT ON VIEW daily_top_trends IS
    'One row per location, UTC day and trend: its best rank that day. Filter on '
    'best_rank <= 10 for the daily top ten. Sample rows are left out.';
COMMENT ON COLUMN daily_top_trends.best_rank IS
    'Best (lowest) rank of the trend in any snapshot of that day.';
COMMENT ON COLUMN daily_top_trends.snapshots IS
    'How many snapshots of that day listed the trend.';
COMMENT ON COLUMN daily_top_trends.peak_tweet_volume IS
    'Highest worldwide 24-hour volume X gave that day; null when never given. '
    'Never sum it across locations.';

CREATE VIEW trend_lifetimes AS
SELECT
    o.woeid,
    l.name AS location,
    o.name,
    min(o.as_of) AS first_seen,
    max(o.as_of) AS last_seen,
    count(DISTINCT (o.as_of AT TIME ZONE 'UTC')::date) AS days_on_list,
    count(*) AS snapshots,
    min(o.rank) AS best_rank
FROM trend_observations AS o
JOIN locations AS l USING (woeid)
WHERE NOT o.is_sample
GROUP BY o.woeid, l.name, o.name;

COMMENT ON VIEW trend_lifetimes IS
    'One row per location and trend: when it was first and last listed there, on '
    'how many UTC days, and its best rank. Sample rows are left out.';
COMMENT ON COLUMN trend_lifetimes.days_on_list IS
    'Distinct UTC days with at least one snapshot listing the trend; gaps are not '
    'filled, so it can be less than last_seen - first_seen + 1.';

CREATE VIEW trend_city_arrivals AS
WITH arrivals AS (
    SELECT DISTINCT ON (o.name, o.woeid)
        o.name,
        o.woeid,
        l.name AS city,
        o.as_of AS arrived_at,
        o.rank AS arrival_rank
    FROM trend_observations AS o
    JOIN locations AS l USING (woeid)
    WHERE NOT o.is_sample AND l.kind = 'town'
    ORDER BY o.name, o.woeid, o.as_of
)
SELECT
    name,
    woeid,
    city,
    arrived_at,
    arrival_rank,
    dense_rank() OVER (PARTITION BY name ORDER BY arrived_at) AS arrival_order,
    first_value(woeid) OVER first_city AS origin_woeid,
    first_value(city) OVER first_city AS origin_city,
    arrived_at - first_value(arrived_at) OVER first_city AS lag,
    count(*) OVER (PARTITION BY name) AS cities_reached
FROM arrivals
WINDOW first_city AS (PARTITION BY name ORDER BY arrived_at, arrival_rank, city);

COMMENT ON VIEW trend_city_arrivals IS
    'One row per trend and city it reached: when it first appeared there and how '
    'long after the first city. Towns only, so the country list is left out; sample '
    'rows too.';
COMMENT ON COLUMN trend_city_arrivals.arrival_order IS
    '1 for the city or cities where the trend appeared first; cities reached in the '
    'same snapshot share a number.';
COMMENT ON COLUMN trend_city_arrivals.origin_city IS
    'The first city to list the trend; when several listed it in the same snapshot, '
    'the one where it ranked best, then the first by name.';
COMMENT ON COLUMN trend_city_arrivals.lag IS
    'Time from the trend''s first appearance in origin_city to its arrival here.';

CREATE VIEW trend_kind_share AS
SELECT
    (o.as_of AT TIME ZONE 'UTC')::date AS day,
    o.woeid,
    l.name AS location,
    count(DISTINCT o.name) AS trends,
    count(DISTINCT o.name) FILTER (WHERE o.name LIKE '#%') AS hashtags,
    count(DISTINCT o.name) FILTER (WHERE o.name NOT LIKE '#%') AS phrases,
    round(
        count(DISTINCT o.name) FILTER (WHERE o.name LIKE '#%')::numeric
        / count(DISTINCT o.name),
        4
    ) AS hashtag_share
FROM trend_observations AS o
JOIN locations AS l USING (woeid)
WHERE NOT o.is_sample
GROUP BY 1, o.woeid, l.name;

COMMENT ON VIEW trend_kind_share IS
    'One row per location and UTC day: how many distinct trends were hashtags '
    '(names starting with #) and how many were phrases. Sample rows are left out.';
COMMENT ON COLUMN trend_kind_share.hashtag_share IS
    'hashtags / trends, from 0 to 1; the share of phrases is 1 - hashtag_share.';
