-- The web UI's users (argon2 password hashes, a role) and their API tokens,
-- kept as the SHA-256 of the token's text. Deleting a user deletes its tokens.
CREATE TABLE web_user (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'op', 'viewer')),
    created_at    TEXT NOT NULL
);

CREATE TABLE api_token (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES web_user (username) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
