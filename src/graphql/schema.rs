//! Builds the schema: the merged root types and the limits. `sdl()` is what
//! `smilecook export-schema` prints and what the checked-in `schema.graphql` must equal.
//!
//! Three instances of the one schema are built ([`Schemas`]). Requests execute on one without
//! extensions, or on its twin that validates in `Fast` mode when the same request passed full
//! validation before (`doc_cache.rs`). A request refused before execution is answered by the
//! third, which has the [`QueryLimits`] extension and so explains the refusal with a code and
//! the numbers (`limits.rs`). An extension costs every field of every request a detour, about
//! a tenth of the instructions of a page of recipes.
//!
//! Where a new rule goes:
//! - a limit on documents: a check before validation in `limits.rs` (`QueryLimits::prepare`,
//!   linear in the document, coded there), which all three instances then share; a limit that
//!   async-graphql enforces itself goes in [`configured`], so that the three agree on it;
//! - a limit on running (concurrency, time) or on connections: `admission/`, not a schema;
//! - an extension: on the `explainer` only if it explains refusals; one that every request
//!   needs costs every field of every request (see above): measure it first
//!   (`bench/callgrind.sh`), then add it in [`build_schemas`] to `executing` so that the
//!   executor and its fast-validating twin stay the same schema.

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder, ValidationMode};

use super::{
    auth::AuthMutation,
    doc_cache::DocumentCache,
    limits::QueryLimits,
    nesting::MAX_NESTING,
    recipe::{RecipeMutation, RecipeQuery},
    session::{SessionMutation, SessionQuery},
    spans::Spans,
    subscription::RecipeSubscription,
    user::UserQuery,
};
use crate::{config::Config, state::AppState};

#[derive(MergedObject, Default)]
pub struct Query(UserQuery, RecipeQuery, SessionQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, RecipeMutation, SessionMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(RecipeSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What the schema lets clients do, from configuration.
#[derive(Clone)]
pub struct Limits {
    pub query: QueryLimits,
    /// Most directives on one field; `None` leaves it unlimited.
    pub max_directives: Option<usize>,
    pub introspection: bool,
    /// "Did you mean ...?" hints in validation errors.
    pub suggestions: bool,
    /// Spans for validation, execution and root fields (`spans.rs`), while traces are exported.
    pub spans: bool,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            query: QueryLimits {
                max_query_bytes: config.max_query_bytes,
                max_aliases: config.max_aliases,
                max_root_fields: config.max_root_fields,
                max_depth: config.max_query_depth,
                max_complexity: config.max_query_complexity,
                introspection: config.introspection(),
                cache: DocumentCache::default(),
            },
            max_directives: config.max_directives_per_field,
            introspection: config.introspection(),
            suggestions: config.suggestions(),
            spans: crate::telemetry::traces_enabled(),
        }
    }
}

/// The executing schemas and the explaining one.
#[derive(Clone)]
pub struct Schemas {
    /// Runs every request. No extensions; over-complex documents are refused with
    /// async-graphql's uncoded error (and then explained by `explainer`); depth, like every
    /// check before validation, is checked by `QueryLimits::prepare` first.
    pub executor: AppSchema,
    /// The executor again, validating in async-graphql's `Fast` mode (fragment cycles and
    /// complexity only), for a request whose document passed full validation with the
    /// same operation and variables before (doc_cache.rs).
    pub revalidator: AppSchema,
    /// Answers the requests `executor` refuses before execution, with coded errors.
    pub explainer: AppSchema,
    /// The executor and the revalidator with spans for validation, execution and root fields
    /// (`spans.rs`), while traces are exported: for the requests whose trace is sampled. Any
    /// extension puts every field of every request through async-graphql's extension chain
    /// (15% more instructions for a page of recipes), so the others run without.
    pub traced: Option<(AppSchema, AppSchema)>,
}

pub fn build_schemas(state: AppState, limits: &Limits) -> Schemas {
    let executing = || {
        configured(builder().data(state.clone()), limits)
            .limit_complexity(limits.query.max_complexity)
    };
    let executor = executing().finish();
    let revalidator = executing().validation_mode(ValidationMode::Fast).finish();
    let traced = limits.spans.then(|| {
        let executor = executing().extension(Spans).finish();
        let revalidator = executing()
            .extension(Spans)
            .validation_mode(ValidationMode::Fast)
            .finish();
        (executor, revalidator)
    });
    let explainer = configured(builder().data(state), limits)
        .extension(limits.query.clone())
        .finish();
    Schemas {
        executor,
        revalidator,
        explainer,
        traced,
    }
}

fn configured(
    mut builder: SchemaBuilder<Query, Mutation, Subscription>,
    limits: &Limits,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    // Its own check of selection nesting (32 by default, uncoded) never fires before ours:
    // `QueryLimits` refuses deeper documents with QUERY_TOO_DEEP first.
    builder = builder.limit_recursive_depth(MAX_NESTING);
    if let Some(max) = limits.max_directives {
        builder = builder.limit_directives(max);
    }
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schema in SDL, as `schema.graphql` holds it: everything introspection describes,
/// `@specifiedBy` included.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new().include_specified_by();
    builder().finish().sdl_with_options(options)
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}
