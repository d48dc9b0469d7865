// Logs a user in with DPoP and writes, for bench/dpop_me.lua, the access token and COUNT
// proofs for POST on the endpoint (each with a new jti and the token's ath), made with the
// `dpop` library from clients/node_modules. Usage: node bench/dpop_proofs.mjs URL USER PASSWORD
// COUNT TOKEN_FILE PROOFS_FILE
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../clients/package.json', import.meta.url));
const { generateKeyPair, generateProof } = await import(require.resolve('dpop'));
const [url, user, password, count, tokenFile, proofsFile] = process.argv.slice(2);

const key = await generateKeyPair('ES256');
const response = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', dpop: await generateProof(key, url, 'POST') },
  body: JSON.stringify({
    query: 'mutation ($i: LoginInput!) { login(input: $i) { accessToken tokenType } }',
    variables: { i: { login: user, password } },
  }),
});
const { data } = await response.json();
if (data?.login?.tokenType !== 'DPoP') throw new Error('the DPoP login failed');
const token = data.login.accessToken;
const proofs = [];
for (let i = 0; i < Number(count); i += 1) proofs.push(await generateProof(key, url, 'POST', undefined, token));
writeFileSync(tokenFile, token);
writeFileSync(proofsFile, `${proofs.join('\n')}\n`);
