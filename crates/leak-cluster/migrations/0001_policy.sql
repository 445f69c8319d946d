-- leak's shared policy state (crates/leak-cluster). Applied once, in a
-- transaction, recorded in leak_schema_version.

-- Submission accounts: what the users file holds on a single node.
CREATE TABLE leak_accounts (
    name     text PRIMARY KEY,
    password text NOT NULL,          -- argon2id PHC string
    notify   text,                   -- where delivery-failure reports go
    aliases  text[] NOT NULL DEFAULT '{}'
);

-- The suppression list: HMAC of the normalised address (hex, never the
-- address) and the JSON entry (source, date, reason).
CREATE TABLE leak_optouts (
    key   text PRIMARY KEY,
    entry text NOT NULL
);

-- Rate counters. The key names the window (its start, as an hour or day
-- number), so a count survives restarts and a new window starts at zero;
-- expires is when the window is over and the row may be pruned.
CREATE TABLE leak_counters (
    key     text PRIMARY KEY,
    count   bigint NOT NULL CHECK (count >= 0),
    expires bigint NOT NULL
);
CREATE INDEX leak_counters_expires ON leak_counters (expires);

-- Every node keeps a copy of the accounts and of the list, kept current
-- by these notifications. Opt-outs carry the change itself
-- ('+' key ' ' entry, or '-' key); accounts only the name.
CREATE FUNCTION leak_optouts_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('leak_optouts', '-' || OLD.key);
    ELSE
        PERFORM pg_notify('leak_optouts', '+' || NEW.key || ' ' || NEW.entry);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER leak_optouts_changed AFTER INSERT OR UPDATE OR DELETE ON leak_optouts
    FOR EACH ROW EXECUTE FUNCTION leak_optouts_notify();

CREATE FUNCTION leak_accounts_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('leak_accounts', OLD.name);
    ELSE
        PERFORM pg_notify('leak_accounts', NEW.name);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER leak_accounts_changed AFTER INSERT OR UPDATE OR DELETE ON leak_accounts
    FOR EACH ROW EXECUTE FUNCTION leak_accounts_notify();
