"""iRacing's OAuth for harvester: the session policy and what it stands on.

- `session`: the policy (which token to use, single-flight refresh, the password-grant budget
  and pauses) and `BearerAuth`, its httpx.Auth for /data.
- `endpoint`: the token endpoint's I/O (post a grant, revoke) and pure parsing of its answers.
- `store`: the encrypted session and the password-grant bookkeeping in the database.
- `keys`: encryption keys (HARVESTER_KEY or a key file), the MultiFernet, key rotation.
- `tokens`: the tokens as a value; `masking`: iRacing's credential masking (pure).

Imports run one way (an import-linter contract): session → endpoint, store → keys, tokens,
masking; masking and tokens import no harvester module. This file imports nothing.
"""
