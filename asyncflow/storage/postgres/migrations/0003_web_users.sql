-- The web UI's users (argon2 password hashes, a role) and their API tokens,
-- kept as the SHA-256 of the token's text. Deleting a user deletes its tokens.
CREATE TABLE web_user (
    username      text COLLATE "C" PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'op', 'viewer')),
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_token (
    token_hash text PRIMARY KEY,
    username   text COLLATE "C" NOT NULL REFERENCES web_user (username) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);
