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
    loaders,
    recipe::{RecipeMutation, RecipeQuery},
    user::UserQuery,
};
use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(UserQuery, RecipeQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, RecipeMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits applied to every operation before any resolver runs.
#[derive(Clone, Debug)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub introspection: bool,
}

pub fn build_schema(state: AppState, limits: &Limits) -> AppSchema {
    let mut builder = builder()
        .extension(loaders::PerRequestLoader::new(state.db.clone()))
        .data(state)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .extension(ExecutionMarker);
    if !limits.introspection {
        builder = builder.disable_introspection();
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
