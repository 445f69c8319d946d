-- Facts every node of a cluster must agree on, one row each.
--
-- 'consent_secret': a keyed fingerprint of the consent secret (HMAC-SHA256
-- of a fixed label under the secret, in hex: it reveals nothing of the
-- secret), recorded by the first node or `leak cluster import` that uses
-- the database. A node whose secret gives another fingerprint refuses to
-- start: its opt-out keys would not match the list's.
CREATE TABLE leak_settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
