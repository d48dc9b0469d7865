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
    '#   { "Authorization": "Bearer <accessToken>" }',
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
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: scheme + window.location.host + endpoint,
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
