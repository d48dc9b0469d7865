//! Builds the schema: the merged root types, the limits and the extensions. `sdl()` is what
//! `smilecook export-schema` prints and what the checked-in `schema.graphql` must equal.

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use super::{
    auth::AuthMutation,
    doc_cache::DocumentCache,
    limits::QueryLimits,
    recipe::{RecipeMutation, RecipeQuery},
    user::UserQuery,
};
use crate::{config::Config, state::AppState};

#[derive(MergedObject, Default)]
pub struct Query(UserQuery, RecipeQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, RecipeMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// What the schema lets clients do, from configuration.
#[derive(Clone)]
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
                cache: DocumentCache::default(),
            },
            max_directives: config.max_directives_per_field,
            introspection: config.introspection(),
            suggestions: config.suggestions(),
        }
    }
}

pub fn build_schema(state: AppState, limits: &Limits) -> AppSchema {
    // One extension only: async-graphql runs every extension's hook around every field.
    let mut builder = builder().data(state).extension(limits.query.clone());
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
