//! What executing and validating a document would walk, measured in one pass over its text's
//! syntax tree, before async-graphql walks anything.
//!
//! A fragment spread stands for the fragment's whole selection, so a document that walks its
//! fragments per spread does work exponential in its size: fragment `F0` spreads `F1` twice,
//! `F1` spreads `F2` twice, and forty such lines stand for 2^40 fields. async-graphql's
//! complexity and depth visitors walk exactly that way, and so did the alias count here. This
//! module measures each fragment once, in an order where every fragment comes after the
//! fragments it spreads, and adds a fragment's counts wherever it is spread (saturating), so
//! the measure costs one walk of the syntax tree. The limits (`limits.rs`) then refuse a
//! document before anything walks it per spread.
//!
//! Its recursion follows selection sets within one definition, never spreads, so its depth is
//! bounded by the bracket nesting that `nesting.rs` allows.

use std::collections::HashMap;

use async_graphql::{
    Pos, Positioned,
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
};

/// A document's counts, as execution and async-graphql's validation would meet them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields over all operations, a fragment's fields counted each time it is spread.
    pub fields: u64,
    /// Aliased fields, counted the same way.
    pub aliases: u64,
    /// The most root fields one operation selects, through any nesting of inline fragments
    /// and spreads.
    pub root_fields: u64,
    /// Selections (fields, spreads and inline fragments) that a walk following every spread
    /// meets, over every operation and every fragment definition (async-graphql's
    /// validation walks both).
    pub visits: u64,
    /// The longest chain of nested selections, through spreads.
    pub nesting: u64,
    /// The deepest nesting of fields outside introspection, as async-graphql counts depth
    /// (`{ me { id } }` is 2); an introspection field (`__schema`, `__type`) counts one.
    pub depth: u64,
    /// `__schema` and `__type` fields, a fragment's counted each time it is spread.
    pub introspection_fields: u64,
    /// The most introspection lists (`types`, `fields`, `args`, ...) nested on one path: each
    /// multiplies the answer by the size of a list of the schema.
    pub introspection_lists: u64,
    /// The longest chain of nested `ofType` fields.
    pub of_type_chain: u64,
}

/// The fields of the introspection types that answer lists of the schema's parts.
const INTROSPECTION_LISTS: [&str; 8] = [
    "types",
    "directives",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
];

/// Whether a field named `name` on the query type starts an introspection subtree.
pub fn is_introspection(name: &str) -> bool {
    name == "__schema" || name == "__type"
}

/// Where a selection set is: among the data fields, or under `__schema` or `__type`, where
/// every field belongs to an introspection type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    Data = 0,
    Introspection = 1,
}

/// A fragment that spreads itself, directly or through others.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    pub fragment: String,
    pub pos: Pos,
}

/// The counts of one selection set, spreads included.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    fields: u64,
    aliases: u64,
    roots: u64,
    visits: u64,
    nesting: u64,
    depth: u64,
    introspection_fields: u64,
    introspection_lists: u64,
    of_type: u64,
}

/// A fragment's counts where it is spread among data fields, and under introspection.
type Measured<'a> = HashMap<&'a str, [Counts; 2]>;

/// Measures `document`; a fragment cycle is reported instead (validation would refuse it too,
/// but after a walk that follows it).
pub fn measure(document: &ExecutableDocument) -> Result<Shape, Cycle> {
    let fragments = measure_fragments(document)?;
    let (mut all, mut root_fields) = (Counts::default(), 0);
    for (_, operation) in document.operations.iter() {
        let counts = counts(&operation.node.selection_set.node, Within::Data, &fragments);
        root_fields = counts.roots.max(root_fields);
        all.add(&counts);
    }
    for [counts, _] in fragments.values() {
        all.visits = all.visits.saturating_add(counts.visits);
        all.nesting = all.nesting.max(counts.nesting);
    }
    Ok(Shape {
        fields: all.fields,
        aliases: all.aliases,
        root_fields,
        visits: all.visits,
        nesting: all.nesting,
        depth: all.depth,
        introspection_fields: all.introspection_fields,
        introspection_lists: all.introspection_lists,
        of_type_chain: all.of_type,
    })
}

/// Every fragment's counts, each measured once after the fragments it spreads.
fn measure_fragments(document: &ExecutableDocument) -> Result<Measured<'_>, Cycle> {
    let mut measured = HashMap::with_capacity(document.fragments.len());
    for name in topological_order(document)? {
        let set = &document.fragments[name].node.selection_set.node;
        let both = [Within::Data, Within::Introspection].map(|w| counts(set, w, &measured));
        measured.insert(name, both);
    }
    Ok(measured)
}

/// Fragment names, each after every fragment it spreads: a depth-first search with an explicit
/// stack (a chain of spreads is as long as the document allows). `cost.rs` measures in the
/// same order.
pub(crate) fn topological_order(document: &ExecutableDocument) -> Result<Vec<&str>, Cycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Done,
    }
    let spreads: HashMap<&str, Vec<&Positioned<async_graphql::Name>>> = document
        .fragments
        .iter()
        .map(|(name, f)| (name.as_str(), spread_names(&f.node.selection_set.node)))
        .collect();
    let mut state: HashMap<&str, State> = HashMap::with_capacity(spreads.len());
    let mut order = Vec::with_capacity(spreads.len());
    for start in spreads.keys() {
        if state.contains_key(start) {
            continue;
        }
        // (fragment, index of the next spread of it to follow)
        let mut stack = vec![(*start, 0usize)];
        state.insert(start, State::Open);
        while let Some((name, next)) = stack.last_mut() {
            let Some(target) = spreads[*name].get(*next) else {
                state.insert(name, State::Done);
                order.push(*name);
                stack.pop();
                continue;
            };
            *next += 1;
            let target_name = target.node.as_str();
            if !spreads.contains_key(target_name) {
                continue; // Unknown: validation reports it.
            }
            match state.get(target_name) {
                Some(State::Done) => {}
                Some(State::Open) => {
                    return Err(Cycle {
                        fragment: target_name.to_owned(),
                        pos: target.pos,
                    });
                }
                None => {
                    state.insert(target_name, State::Open);
                    stack.push((target_name, 0));
                }
            }
        }
    }
    Ok(order)
}

/// The fragments a selection set spreads, at any depth, in order.
fn spread_names(set: &SelectionSet) -> Vec<&Positioned<async_graphql::Name>> {
    let mut names = Vec::new();
    collect_spreads(set, &mut names);
    names
}

fn collect_spreads<'a>(
    set: &'a SelectionSet,
    names: &mut Vec<&'a Positioned<async_graphql::Name>>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => collect_spreads(&field.node.selection_set.node, names),
            Selection::InlineFragment(inline) => {
                collect_spreads(&inline.node.selection_set.node, names)
            }
            Selection::FragmentSpread(spread) => names.push(&spread.node.fragment_name),
        }
    }
}

/// The counts of `set`, found `within` data or introspection, taking each spread fragment's
/// from `fragments` (an unknown fragment counts nothing).
fn counts(set: &SelectionSet, within: Within, fragments: &Measured<'_>) -> Counts {
    let mut total = Counts::default();
    for item in &set.items {
        let own = match &item.node {
            Selection::Field(field) => field_counts(&field.node, within, fragments),
            Selection::InlineFragment(inline) => {
                let inner = counts(&inline.node.selection_set.node, within, fragments);
                Counts {
                    visits: inner.visits.saturating_add(1),
                    nesting: inner.nesting + 1,
                    ..inner
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                let inner = fragments.get(name).map(|both| both[within as usize]);
                let inner = inner.unwrap_or_default();
                Counts {
                    visits: inner.visits.saturating_add(1),
                    nesting: inner.nesting + 1,
                    ..inner
                }
            }
        };
        total.add(&own);
    }
    total
}

impl Counts {
    /// Adds the counts of a sibling selection: what adds up is summed, what is the longest
    /// path is the larger.
    fn add(&mut self, other: &Counts) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.roots = self.roots.saturating_add(other.roots);
        self.visits = self.visits.saturating_add(other.visits);
        self.introspection_fields =
            (self.introspection_fields).saturating_add(other.introspection_fields);
        self.nesting = self.nesting.max(other.nesting);
        self.depth = self.depth.max(other.depth);
        self.introspection_lists = self.introspection_lists.max(other.introspection_lists);
        self.of_type = self.of_type.max(other.of_type);
    }
}

/// The counts of one field and what it selects.
fn field_counts(field: &Field, within: Within, fragments: &Measured<'_>) -> Counts {
    let name = field.name.node.as_str();
    let starts_introspection = is_introspection(name);
    let inner_within = match starts_introspection {
        true => Within::Introspection,
        false => within,
    };
    let inner = counts(&field.selection_set.node, inner_within, fragments);
    let depth = match (within, starts_introspection) {
        (Within::Introspection, _) => 0,
        (Within::Data, true) => 1,
        (Within::Data, false) => inner.depth.saturating_add(1),
    };
    let in_introspection = within == Within::Introspection;
    Counts {
        fields: inner.fields.saturating_add(1),
        aliases: (inner.aliases).saturating_add(u64::from(field.alias.is_some())),
        roots: 1,
        visits: inner.visits.saturating_add(1),
        nesting: inner.nesting + 1,
        depth,
        introspection_fields: (inner.introspection_fields)
            .saturating_add(u64::from(starts_introspection)),
        introspection_lists: inner.introspection_lists
            + u64::from(in_introspection && INTROSPECTION_LISTS.contains(&name)),
        of_type: inner.of_type + u64::from(in_introspection && name == "ofType"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Result<Shape, Cycle> {
        measure(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    fn doubling(levels: usize) -> String {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..levels {
            doc += &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1);
        }
        doc + &format!(" fragment F{levels} on Query {{ a: __typename }}")
    }

    #[test]
    fn fields_aliases_and_roots_of_a_plain_operation() {
        let shape = shape("{ me { id n: username } a: me { id } }").expect("no cycle");
        assert_eq!(shape.fields, 5);
        assert_eq!(shape.aliases, 2);
        assert_eq!(shape.root_fields, 2);
        assert_eq!(shape.nesting, 2);
    }

    #[test]
    fn a_fragment_counts_each_time_it_is_spread() {
        let shape =
            shape("{ ...F me { ...F } } fragment F on Query { a: __typename }").expect("no cycle");
        assert_eq!(shape.fields, 3);
        assert_eq!(shape.aliases, 2);
        assert_eq!(shape.root_fields, 2);
        // The operation's 3 selections, 1 behind each of its two spreads, the definition's 1.
        assert_eq!(shape.visits, 3 + 2 + 1);
    }

    #[test]
    fn root_fields_count_through_any_nesting_of_inline_fragments_and_spreads() {
        let inline = "{ ... on Query { ... on Query { ... on Query { ... on Query { ... on Query { a b c } } } } } }";
        assert_eq!(shape(inline).expect("no cycle").root_fields, 3);
        let spread =
            "{ ...A } fragment A on Query { ... on Query { ...B } } fragment B on Query { a b }";
        assert_eq!(shape(spread).expect("no cycle").root_fields, 2);
    }

    #[test]
    fn doubling_fragments_are_measured_without_walking_their_paths() {
        let shape = shape(&doubling(40)).expect("no cycle");
        assert_eq!(shape.fields, 1 << 40);
        assert_eq!(shape.aliases, 1 << 40);
        assert_eq!(shape.nesting, 42);
        let saturated = self::shape(&doubling(70)).expect("no cycle");
        assert_eq!(saturated.fields, u64::MAX);
    }

    #[test]
    fn fragment_cycles_are_reported_wherever_they_start() {
        let cycle =
            shape("{ ...A } fragment A on Query { ...B } fragment B on Query { me { ...A } }");
        assert!(cycle.is_err());
        let own = shape("{ a } fragment A on Query { ...A }").expect_err("a cycle");
        assert_eq!(own.fragment, "A");
    }

    #[test]
    fn unknown_fragments_count_nothing() {
        assert_eq!(shape("{ a ...Missing }").expect("no cycle").fields, 1);
    }

    #[test]
    fn a_long_chain_of_spreads_is_followed_without_recursion() {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..10_000 {
            doc += &format!(" fragment F{i} on Query {{ ...F{} }}", i + 1);
        }
        doc += " fragment F10000 on Query { a }";
        let document = async_graphql::parser::parse_query(&doc).expect("parses");
        assert_eq!(measure(&document).expect("no cycle").nesting, 10_002);
    }
}
