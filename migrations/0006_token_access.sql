-- What an operator lets a client do beyond its protocol metadata, the JWT
-- access-token revocation list, and the lookup behind remembered consent.

-- Operator-set, never client-set: these are columns, not client metadata, so a
-- dynamically registered client cannot grant them to itself (RFC 7591 metadata
-- is whatever the client sends).
--   introspects:      audiences of resource servers whose tokens this client may
--                     introspect (RFC 7662 §2.1), or ["*"] for every token (an API gateway).
--   default_resource: the resource server a token request without `resource`
--                     (RFC 8707) is for; removed with the resource server.
ALTER TABLE clients
  ADD COLUMN introspects      jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN default_resource text REFERENCES resource_servers (audience) ON DELETE SET NULL;

-- JWT access tokens (RFC 9068) are not stored, so revoking one (RFC 7009) means
-- remembering its `jti` until the token would have expired anyway. A jti is an
-- identifier, not a credential: the signed token is what a bearer presents.
CREATE TABLE revoked_access_tokens (
  jti        text        PRIMARY KEY,
  client_id  text        NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

-- Remembered consent: the newest live grant of an account for a client, found
-- without a session. Grant rows now keep their own id in grant_id (token rows
-- already keep their grant's id there; a grant id authenticates nothing).
CREATE INDEX oidc_models_grant_owner ON oidc_models ((payload->>'accountId'), (payload->>'clientId')) WHERE model = 'Grant';
