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
  // Subscriptions go over a WebSocket to the same endpoint (graphql-transport-ws); the
  // Headers pane's contents become the connection's `connection_init` payload.
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: scheme + window.location.host + endpoint,
  });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: firstTab,
      defaultEditorToolsVisibility: "headers",
    }),
  );
})();
