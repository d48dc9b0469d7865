// Starts GraphiQL against this server. Loaded from the server itself, like every other asset
// of the page: its Content-Security-Policy allows no inline script and no other origin.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var firstTab = [
    "# Welcome to Smilecook GraphQL.",
    "#",
    "# Public recipes need no token: press the run button (or Ctrl-Enter) to run this query.",
    "# The Docs button (top left) lists every type and field, with their descriptions.",
    "#",
    "# To act as a user, run the `login` mutation below, copy its `accessToken`, and put it in",
    "# the Headers pane underneath:",
    "#",
    '#   { "Authorization": "Bearer <accessToken>" }',
    "#",
    "# Headers stay in this tab only: they are not saved in the browser unless you switch",
    '# "Persist headers" on in the settings (a token saved there outlives the tab).',
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
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: firstTab,
      defaultEditorToolsVisibility: "headers",
    }),
  );
})();
