-- Tokens carry their user's generation when issued; raising it (a password change, a logout
-- with POST /token/revoke) ends every token issued before.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
