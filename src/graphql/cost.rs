//! The cost of an operation, spent from the caller's rate-limit budgets (`ratelimit`): the
//! complexity the schema gives it, computed on the parsed document before validation. Every
//! field costs 1 plus what it selects; a page of recipes (a field with `first`) costs what one
//! of its items selects times the items asked for, as `connection::weight` counts it (`first`
//! absent: the schema's default, 20).
//!
//! The document has passed the checks of `limits.rs` (its bracket nesting, and the fragment
//! cycles `shape.rs` reports) but not validation: unknown fields cost as any field does,
//! unknown fragments nothing. Each fragment is costed once, after the fragments it spreads
//! (the order `shape.rs` measures in), and a spread adds its fragment's cost (saturating), so
//! the cost is one walk of the syntax tree whatever the spreads expand to. Recursion follows
//! selection sets within one definition, bounded by the nesting `nesting.rs` allows.

use std::collections::HashMap;

use async_graphql::{
    Name, Positioned, Value, Variables,
    parser::types::{
        ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet, VariableDefinition,
    },
};

use super::{connection::weight, shape::topological_order};

/// The fields that list a page of recipes even without a `first` argument (the schema
/// defaults it). A field with `first` anywhere weighs as a page too.
const PAGED: [&str; 2] = ["recipes", "myRecipes"];

/// What the operation `operation_name` (the document's only one when `None`) of `document`
/// costs with `variables`: at least 1, also for a document that names no operation it has.
pub fn of(document: &ExecutableDocument, variables: &Variables, name: Option<&str>) -> u64 {
    let mut chosen = document
        .operations
        .iter()
        .filter(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name);
    let (Some((_, operation)), None) = (chosen.next(), chosen.next()) else {
        return 1; // no operation to run: refused by validation, after costing its parse
    };
    let arguments = Arguments {
        variables,
        defined: &operation.node.variable_definitions,
    };
    operation_cost(document, &operation.node, &arguments).max(1)
}

fn operation_cost(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    arguments: &Arguments<'_>,
) -> u64 {
    let Ok(order) = topological_order(document) else {
        return 1; // a fragment cycle: `limits.rs` refuses it before anything spends
    };
    let mut fragments: HashMap<&str, u64> = HashMap::with_capacity(order.len());
    for name in order {
        let set = &document.fragments[name].node.selection_set.node;
        let cost = set_cost(set, arguments, &fragments);
        fragments.insert(name, cost);
    }
    set_cost(&operation.selection_set.node, arguments, &fragments)
}

fn set_cost(set: &SelectionSet, arguments: &Arguments<'_>, fragments: &HashMap<&str, u64>) -> u64 {
    set.items.iter().fold(0u64, |total, item| {
        let cost = match &item.node {
            Selection::Field(field) => field_cost(&field.node, arguments, fragments),
            Selection::InlineFragment(inline) => {
                set_cost(&inline.node.selection_set.node, arguments, fragments)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                fragments.get(name).copied().unwrap_or(0)
            }
        };
        total.saturating_add(cost)
    })
}

fn field_cost(field: &Field, arguments: &Arguments<'_>, fragments: &HashMap<&str, u64>) -> u64 {
    let children = set_cost(&field.selection_set.node, arguments, fragments);
    let first = field.get_argument("first");
    if first.is_none() && !PAGED.contains(&field.name.node.as_str()) {
        return children.saturating_add(1);
    }
    let value = first.and_then(|value| {
        let variable = |name: Name| arguments.variable(&name).ok_or(());
        value.node.clone().into_const_with(variable).ok()
    });
    let first = value.and_then(int);
    let children = usize::try_from(children).unwrap_or(usize::MAX);
    u64::try_from(weight(first, children)).unwrap_or(u64::MAX)
}

/// An integer argument, clamped into `i32`; `None` for anything else (null, or a value of
/// another type, which validation refuses).
fn int(value: Value) -> Option<i32> {
    let Value::Number(number) = value else {
        return None;
    };
    let clamped = number
        .as_i64()?
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    i32::try_from(clamped).ok()
}

/// The values of the operation's variables.
struct Arguments<'a> {
    variables: &'a Variables,
    defined: &'a [Positioned<VariableDefinition>],
}

impl Arguments<'_> {
    /// A variable's value: the request's, else the operation's default.
    fn variable(&self, name: &Name) -> Option<Value> {
        let value = self.variables.get(name).or_else(|| {
            let defined = self.defined.iter().find(|d| d.node.name.node == *name)?;
            defined.node.default_value.as_ref().map(|v| &v.node)
        });
        value.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str, variables: serde_json::Value) -> u64 {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        of(&document, &Variables::from_json(variables), None)
    }

    #[test]
    fn each_field_costs_one() {
        assert_eq!(cost("{ me { id username } }", serde_json::json!({})), 3);
    }

    #[test]
    fn a_page_costs_its_items_selection_times_first() {
        let page = "{ recipes(first: 10) { edges { node { id title } } } }";
        assert_eq!(cost(page, serde_json::json!({})), 10 * 4);
        let default = "{ recipes { edges { node { id } } } }";
        assert_eq!(cost(default, serde_json::json!({})), 20 * 3);
    }

    #[test]
    fn first_comes_from_a_variable_or_its_default_and_is_bounded() {
        let query = "query ($n: Int = 5) { myRecipes(first: $n) { totalCount } }";
        assert_eq!(cost(query, serde_json::json!({ "n": 50 })), 50);
        assert_eq!(cost(query, serde_json::json!({})), 5);
        assert_eq!(cost(query, serde_json::json!({ "n": 1_000_000 })), 100);
        assert_eq!(cost(query, serde_json::json!({ "n": -3 })), 1);
    }

    #[test]
    fn nested_pages_multiply() {
        let query = "{ recipes(first: 10) { edges { node { author { recipes(first: 5) { totalCount } } } } } }";
        // author's page: 5 * 1; node: 1 + author (1 + 5); edges: 1 + node; 10 pages of that.
        assert_eq!(cost(query, serde_json::json!({})), 10 * (1 + 1 + 1 + 5));
    }

    #[test]
    fn fragments_are_costed_once_and_count_per_spread() {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..40 {
            doc += &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1);
        }
        doc += " fragment F40 on Query { __typename }";
        assert_eq!(cost(&doc, serde_json::json!({})), 1 << 40);
    }

    #[test]
    fn a_cycle_or_no_chosen_operation_costs_one() {
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert_eq!(cost(cycle, serde_json::json!({})), 1);
        assert_eq!(
            cost(
                "query A { me { id } } query B { me { id } }",
                serde_json::json!({})
            ),
            1
        );
        let document = async_graphql::parser::parse_query("query A { me { id } } query B { a }")
            .expect("parses");
        assert_eq!(of(&document, &Variables::default(), Some("A")), 2);
    }

    /// Refuses every request after validation, keeping the complexity async-graphql computed
    /// (nothing executes: the resolvers would need the server's state).
    struct Measured(std::sync::Arc<std::sync::Mutex<Option<usize>>>);

    impl async_graphql::extensions::ExtensionFactory for Measured {
        fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
            std::sync::Arc::new(Measured(self.0.clone()))
        }
    }

    #[async_trait::async_trait]
    impl async_graphql::extensions::Extension for Measured {
        async fn validation(
            &self,
            ctx: &async_graphql::extensions::ExtensionContext<'_>,
            next: async_graphql::extensions::NextValidation<'_>,
        ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
            let result = next.run(ctx).await?;
            *self.0.lock().expect("lock") = Some(result.complexity);
            Err(Vec::new())
        }
    }

    #[tokio::test]
    async fn the_cost_is_the_complexity_async_graphql_computes_for_the_schema() {
        use crate::graphql::schema::{Mutation, Query, Subscription};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let schema = async_graphql::Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .extension(Measured(seen.clone()))
        .finish();
        let documents = [
            "{ me { id username } }",
            "{ recipes { edges { node { name author { username } } } } }",
            "query ($n: Int = 7) { myRecipes(first: $n) { totalCount pageInfo { hasNextPage } } }",
            "{ recipes(first: 3) { edges { node { author { recipes(first: 4) { totalCount } } } } } }",
            "{ ...F recipe(id: \"1\") { ...R } } fragment F on Query { me { ...U } } \
             fragment U on User { username recipes(first: 2) { edges { node { ...R } } } } \
             fragment R on Recipe { id name }",
            "mutation { deleteRecipe(id: \"1\") }",
        ];
        for text in documents {
            *seen.lock().expect("lock") = None;
            schema.execute(text).await;
            let computed = seen.lock().expect("lock").take();
            let document = async_graphql::parser::parse_query(text).expect("parses");
            let cost = of(&document, &Variables::default(), None);
            assert_eq!(Some(cost as usize), computed, "{text}");
        }
    }

    #[test]
    fn every_field_of_the_schema_with_first_is_known_as_a_page() {
        let sdl = include_str!("../../schema.graphql");
        let mut field = "";
        for line in sdl.lines().map(str::trim) {
            let named = line.split_once('(').map(|(name, _)| name);
            if let Some(name) = named.filter(|n| n.chars().all(|c| c.is_alphanumeric())) {
                field = name;
            }
            if line.starts_with("first:") {
                assert!(
                    PAGED.contains(&field),
                    "`{field}` takes `first`: list it in PAGED"
                );
            }
        }
    }
}
