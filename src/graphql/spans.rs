//! Spans for what async-graphql runs of a request: validation, execution and each root field
//! (the resolvers that reach the database; the statements below them have spans of their own).
//! Parsing has its span in the pipeline, which parses before async-graphql sees the document.
//!
//! Only names are recorded: never the document, an argument or a variable. (async-graphql's
//! own `Tracing` extension records the document with the variables' values inlined, hiding
//! only arguments marked `#[graphql(secret)]`: passwords, tokens and addresses would be one
//! forgotten attribute away from every trace.) The schema gets this extension only while
//! traces are exported: an extension costs every field of every request a detour
//! (`schema.rs`).

use std::sync::Arc;

use async_graphql::{
    Response, ServerError, ServerResult, ValidationResult, Value,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextValidation,
        ResolveInfo,
    },
};
use tracing::Instrument;

/// The extension that opens the spans.
pub struct Spans;

impl ExtensionFactory for Spans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Spans)
    }
}

#[async_trait::async_trait]
impl Extension for Spans {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .instrument(tracing::info_span!("graphql.validate"))
            .await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        next.run(ctx, operation_name)
            .instrument(tracing::info_span!("graphql.execute"))
            .await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Root fields only: a span per nested field would swamp a trace of a page of recipes.
        if info.path_node.parent.is_some() || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        // The schema's field name, not the alias the client chose.
        let span = tracing::info_span!(
            "graphql.resolve",
            otel.name = %format_args!("graphql.resolve {}", info.name),
            field = info.name,
        );
        next.run(ctx, info).instrument(span).await
    }
}
