//! Builds the schema: the merged root types, the limits and the extensions. `sdl()` is what
//! `smilecook export-schema` prints and what the checked-in `schema.graphql` must equal.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    EmptySubscription, MergedObject, Response, Schema, SchemaBuilder,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute},
};

use super::{
    auth::AuthMutation,
    doc_cache::DocumentCache,
    limits::QueryLimits,
    loaders,
    recipe::{RecipeMutation, RecipeQuery},
    user::UserQuery,
    variables::RequiredVariables,
};
use crate::{config::Config, state::AppState};

#[derive(MergedObject, Default)]
pub struct Query(UserQuery, RecipeQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, RecipeMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// What the schema lets clients do, from configuration.
#[derive(Clone, Debug)]
pub struct Limits {
    pub query: QueryLimits,
    /// Most directives on one field; `None` leaves it unlimited.
    pub max_directives: Option<usize>,
    pub introspection: bool,
    /// "Did you mean ...?" hints in validation errors.
    pub suggestions: bool,
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
            },
            max_directives: config.max_directives_per_field,
            introspection: config.introspection(),
            suggestions: config.suggestions(),
        }
    }
}

pub fn build_schema(state: AppState, limits: &Limits) -> AppSchema {
    let mut builder = builder()
        .extension(loaders::PerRequestLoader::new(state.db.clone()))
        .data(state)
        .extension(limits.query.clone())
        .extension(RequiredVariables)
        // After (so inside) the limits: they still check each document, cached or not.
        .extension(DocumentCache::default())
        .extension(ExecutionMarker);
    if let Some(max) = limits.max_directives {
        builder = builder.limit_directives(max);
    }
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// Set by [`ExecutionMarker`] when an operation passed parsing and validation and began to
/// execute. The HTTP layer uses it to tell a request error (400) from a field error (200).
#[derive(Clone, Default)]
pub struct Executed(Arc<AtomicBool>);

impl Executed {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

struct ExecutionMarker;

impl ExtensionFactory for ExecutionMarker {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ExecutionMarker)
    }
}

#[async_trait::async_trait]
impl Extension for ExecutionMarker {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(executed) = ctx.data_opt::<Executed>() {
            executed.0.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }
}
