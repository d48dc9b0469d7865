// Starts GraphiQL against this server. Loaded from the server itself, like every other asset
// of the page: its Content-Security-Policy allows no inline script and no other origin.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var firstTab = [
    "# Welcome to Smilecook GraphQL.",
    "#",
    "# Run this query with the button on the right",
    "# (or Ctrl-Enter): published recipes need no token.",
    "# The book icon on the left opens the docs of every",
    "# type and field.",
    "#",
    "# To act as a user, run `login` (below; the demo user",
    "# exists after `smilecook seed`), and put its",
    "# accessToken in the Headers pane underneath:",
    "#",
    '#   { "Authorization": "DPoP <accessToken>" }',
    "#",
    "# This page holds a key of its own (DPoP): the tokens",
    "# it logs in with work only with proofs it signs, so a",
    "# token copied out of it is useless elsewhere.",
    "#",
    "# Headers stay in this tab: they are saved in the",
    '# browser only if you switch "Persist headers" on',
    "# in the settings (a saved token outlives the tab).",
    "",
    "query PublishedRecipes {",
    "  recipes(first: 5) {",
    "    edges {",
    "      node {",
    "        name",
    "        description",
    "        author { username }",
    "      }",
    "    }",
    "  }",
    "}",
    "",
    "# mutation Login {",
    '#   login(input: { login: "ada", password: "smilecook-demo" }) {',
    "#     accessToken",
    "#     expiresIn",
    "#   }",
    "# }",
    "",
  ].join("\n");
  // An operation handed over in the URL's fragment (`#query=...`, as the links in the server's
  // mail are: a browser never sends the fragment to a server, so a token in it stays out of
  // every server's log). It opens alone, in a tab kept in memory only (not in the browser's
  // storage), and the fragment leaves the address bar and the history at once.
  var handed = null;
  var match = /^#query=([^&]*)/.exec(window.location.hash);
  if (match) {
    try {
      handed = decodeURIComponent(match[1]);
    } catch (e) {
      handed = null;
    }
    window.history.replaceState(
      null,
      "",
      window.location.pathname + window.location.search,
    );
  }
  // Subscriptions go over a WebSocket to the same endpoint (graphql-transport-ws); the
  // Headers pane's contents become the connection's `connection_init` payload.
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var signer = dpopSigner();
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: scheme + window.location.host + endpoint,
    fetch: function (input, init) {
      // In development, a server that runs trusted documents only lets its explorer through.
      var headers = new Headers((init && init.headers) || {});
      headers.set("X-GraphiQL", "1");
      init = Object.assign({}, init, { headers: headers });
      return signer.then(function (sign) {
        return sign ? sign(input, init) : window.fetch(input, init);
      });
    },
  });
  var props = {
    fetcher: fetcher,
    defaultQuery: firstTab,
    defaultEditorToolsVisibility: "headers",
  };
  if (handed !== null) {
    props.query = handed;
    props.storage = memoryStorage();
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));

  // DPoP (RFC 9449): an ECDSA P-256 key pair made in this browser, its private half not
  // extractable, kept in IndexedDB (so it outlives a reload, and no script can read it out).
  // Every request carries a proof signed by it: a `login` run here gets tokens bound to it,
  // and a token sent as `DPoP <token>` gets the proof's `ath`. The server's nonce (DPoP-Nonce),
  // when it asks for one, is kept and used, and a request refused for the lack of it is sent
  // once more. Without WebCrypto (a page not served over https or from localhost), requests go
  // without proofs.
  function dpopSigner() {
    if (!window.crypto || !window.crypto.subtle || !window.indexedDB) {
      return Promise.resolve(null);
    }
    var nonce = null;
    return storedKey().then(
      function (keys) {
        return crypto.subtle.exportKey("jwk", keys.publicKey).then(function (jwk) {
          var publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
          function send(input, init, retried) {
            var headers = new Headers((init && init.headers) || {});
            var bound = /^DPoP\s+(\S+)$/i.exec(headers.get("authorization") || "");
            var url = new URL(typeof input === "string" ? input : input.url, window.location.href);
            var claims = {
              jti: crypto.randomUUID(),
              htm: ((init && init.method) || "GET").toUpperCase(),
              htu: url.origin + url.pathname,
              iat: Math.floor(Date.now() / 1000),
            };
            if (nonce) claims.nonce = nonce;
            var ath = bound ? sha256(bound[1]) : Promise.resolve(null);
            return ath
              .then(function (hash) {
                if (hash) claims.ath = hash;
                return sign(keys.privateKey, { typ: "dpop+jwt", alg: "ES256", jwk: publicJwk }, claims);
              })
              .then(function (proof) {
                headers.set("DPoP", proof);
                return window.fetch(input, Object.assign({}, init, { headers: headers }));
              })
              .then(function (response) {
                var given = response.headers.get("DPoP-Nonce");
                var fresh = given && given !== nonce;
                if (given) nonce = given;
                if (!fresh || retried) return response;
                return response
                  .clone()
                  .json()
                  .then(
                    function (body) {
                      var code = body && body.errors && body.errors[0] && body.errors[0].extensions;
                      return code && code.code === "USE_DPOP_NONCE" ? send(input, init, true) : response;
                    },
                    function () {
                      return response;
                    },
                  );
              });
          }
          return send;
        });
      },
      function () {
        return null;
      },
    );
  }

  function storedKey() {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open("smilecook-dpop", 1);
      open.onupgradeneeded = function () {
        open.result.createObjectStore("keys");
      };
      open.onerror = function () {
        reject(open.error);
      };
      open.onsuccess = function () {
        var db = open.result;
        var read = db.transaction("keys", "readonly").objectStore("keys").get("graphiql");
        read.onerror = function () {
          reject(read.error);
        };
        read.onsuccess = function () {
          if (read.result) return resolve(read.result);
          crypto.subtle
            .generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])
            .then(function (keys) {
              var write = db.transaction("keys", "readwrite").objectStore("keys").put(keys, "graphiql");
              write.onsuccess = function () {
                resolve(keys);
              };
              write.onerror = function () {
                reject(write.error);
              };
            }, reject);
        };
      };
    });
  }

  function base64url(bytes) {
    var text = "";
    new Uint8Array(bytes).forEach(function (b) {
      text += String.fromCharCode(b);
    });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function sha256(text) {
    return crypto.subtle.digest("SHA-256", utf8(text)).then(base64url);
  }

  // A JWS with ES256: WebCrypto's ECDSA signature is already JOSE's r || s.
  function sign(privateKey, header, claims) {
    var input = base64url(utf8(JSON.stringify(header))) + "." + base64url(utf8(JSON.stringify(claims)));
    return crypto.subtle
      .sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, utf8(input))
      .then(function (signature) {
        return input + "." + base64url(signature);
      });
  }

  // The Storage interface, in memory: gone with the tab.
  function memoryStorage() {
    var items = {};
    return {
      getItem: function (key) {
        return Object.prototype.hasOwnProperty.call(items, key) ? items[key] : null;
      },
      setItem: function (key, value) {
        items[key] = String(value);
      },
      removeItem: function (key) {
        delete items[key];
      },
      clear: function () {
        items = {};
      },
      key: function (i) {
        return Object.keys(items)[i] || null;
      },
      get length() {
        return Object.keys(items).length;
      },
    };
  }
})();
