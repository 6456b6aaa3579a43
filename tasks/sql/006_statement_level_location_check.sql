-- Every trend row names a location in locations, as before; the rule is now checked
-- once per statement instead of once per row.
--
-- The foreign key ran a lookup and took a row lock on locations for every row that a
-- COPY wrote, which was about a third of the cost of loading a batch. The triggers
-- below check the same rule over each statement's transition table: one anti-join and
-- one FOR KEY SHARE lock per distinct location, the lock the foreign key took, so that
-- a location cannot be deleted under a load that is still running.
--
-- Like a foreign key's checks, the functions run as the schema's owner (SECURITY
-- DEFINER): the loader role may read locations but not lock its rows. Their search
-- path is fixed to the schema's own, public, so no caller can put another table
-- named locations in their way.
--
-- What the foreign key refused is still refused, with the same SQLSTATE (23503):
-- trend rows for an unknown woeid, and deleting, renumbering or truncating a location
-- that trend rows name.

ALTER TABLE trend_observations DROP CONSTRAINT trend_observations_woeid_fkey;

CREATE FUNCTION trend_locations_known() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    unknown bigint;
BEGIN
    WITH named AS (SELECT DISTINCT woeid FROM written),
    locked AS (
        SELECT woeid FROM locations
        WHERE woeid IN (SELECT woeid FROM named)
        FOR KEY SHARE
    )
    SELECT named.woeid INTO unknown
    FROM named LEFT JOIN locked USING (woeid)
    WHERE locked.woeid IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trend_observations names woeid %, which locations lacks', unknown
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Insert the location first, in the same transaction.';
    END IF;
    RETURN NULL;
END
$$;

-- A trigger with a transition table serves one event only, hence a pair per table.
CREATE TRIGGER trend_observations_inserted_locations_known
    AFTER INSERT ON trend_observations
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION trend_locations_known();

CREATE TRIGGER trend_observations_updated_locations_known
    AFTER UPDATE ON trend_observations
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION trend_locations_known();

CREATE FUNCTION locations_removed_unused() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    used bigint;
BEGIN
    SELECT gone.woeid INTO used
    FROM (SELECT DISTINCT woeid FROM removed) AS gone
    WHERE NOT EXISTS (SELECT FROM locations WHERE locations.woeid = gone.woeid)
      AND EXISTS (SELECT FROM trend_observations AS t WHERE t.woeid = gone.woeid)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'location % is still named by trend_observations', used
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Delete its trend rows first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER locations_deleted_unused
    AFTER DELETE ON locations
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION locations_removed_unused();

CREATE TRIGGER locations_renumbered_unused
    AFTER UPDATE ON locations
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION locations_removed_unused();

CREATE FUNCTION locations_truncated_unused() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM trend_observations) THEN
        RAISE EXCEPTION 'locations cannot be truncated while trend_observations has rows'
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Truncate trend_observations first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER locations_truncated_unused
    BEFORE TRUNCATE ON locations
    FOR EACH STATEMENT EXECUTE FUNCTION locations_truncated_unused();

COMMENT ON FUNCTION trend_locations_known() IS
    'Refuses trend rows whose woeid is not in locations, once per statement.';
COMMENT ON FUNCTION locations_removed_unused() IS
    'Refuses removing a location that trend_observations still names.';
COMMENT ON FUNCTION locations_truncated_unused() IS
    'Refuses truncating locations while trend_observations has rows.';
