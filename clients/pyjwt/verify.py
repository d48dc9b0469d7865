"""Verifies Smilecook access tokens with PyJWT's PyJWKClient, as a Python service would.

    python verify.py ISSUER_URL TOKEN [TOKEN ...]

Reads the metadata (RFC 8414) at ISSUER_URL for the JWKS address, then verifies each token:
the key its `kid` names, that key's algorithm, issuer, audience, expiry and `typ: at+jwt`.
Prints one JSON line per token ({"sub": ...} or {"error": ...}); exits 1 if any failed.
"""

import json
import sys
import urllib.request

import jwt


def main(issuer_url, tokens):
    with urllib.request.urlopen(f"{issuer_url}/.well-known/oauth-authorization-server") as response:
        metadata = json.load(response)
    keys = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=True, lifespan=60)
    failed = False
    for token in tokens:
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                raise jwt.InvalidTokenError("not an access token (typ)")
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=["ES256", "EdDSA"],
                audience="smilecook-api",
                issuer=metadata["issuer"],
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
            print(json.dumps({"sub": claims["sub"], "kid": key.key_id}))
        except jwt.PyJWTError as error:
            failed = True
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
