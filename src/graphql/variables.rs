//! Missing required variables are a request error, as GraphQL over HTTP wants (variable
//! coercion happens before execution, so the answer is a 400 under
//! `application/graphql-response+json`). async-graphql only notices them while resolving the
//! field that uses them, as a field error with a 200.

use async_graphql::{
    ServerResult, Variables,
    parser::types::{DocumentOperations, ExecutableDocument},
};

use crate::error::{Refusal, RequestError};

/// Refuses a single-operation document whose required variables are missing or null.
pub fn check_required(document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    // The operation to run is only known here when the document has one.
    if let DocumentOperations::Single(operation) = &document.operations {
        for definition in &operation.node.variable_definitions {
            let definition = &definition.node;
            let required = !definition.var_type.node.nullable && definition.default_value.is_none();
            let given = variables
                .get(&definition.name.node)
                .is_some_and(|v| *v != async_graphql::Value::Null);
            if required && !given {
                let message = format!(
                    "The variable `${}` of type `{}` is required but was not provided.",
                    definition.name.node, definition.var_type.node
                );
                let pos = definition.name.pos;
                let error = RequestError::new(Refusal::BadUserInput, message).at(pos);
                return Err(error.to_server_error());
            }
        }
    }
    Ok(())
}
