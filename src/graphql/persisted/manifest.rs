//! Manifests of trusted documents, as frontends' build tools write them, and the ids they use.

use sea_orm::DatabaseConnection;

use super::MAX_ID;
use crate::{auth::secret::sha256_hex, db::persisted_documents as db, time::Clock};

/// A SHA-256 in hex is one id whatever its case; other ids are kept as they are.
pub fn normal_id(id: &str) -> String {
    match id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => id.to_ascii_lowercase(),
        false => id.to_owned(),
    }
}

/// The documents of a manifest, as `(id, sha256 of the text, text)`. Two shapes are read: an
/// object of ids to texts (graphql-codegen's client preset, Relay), and Apollo's persisted
/// query manifest (`{"format": "apollo-persisted-query-manifest", "operations": [{"id",
/// "body"}]}`).
pub fn read_manifest(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let pairs: Vec<(String, String)> = match &value {
        serde_json::Value::Object(map) if map.contains_key("operations") => map["operations"]
            .as_array()
            .ok_or("`operations` must be a list")?
            .iter()
            .map(|op| match (op.get("id"), op.get("body")) {
                (Some(serde_json::Value::String(id)), Some(serde_json::Value::String(body))) => {
                    Ok((id.clone(), body.clone()))
                }
                _ => Err("each operation needs a string `id` and `body`".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(id, body)| match body {
                serde_json::Value::String(body) => Ok((id.clone(), body.clone())),
                _ => Err(format!("the document {id} is not a string")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("a manifest is a JSON object".into()),
    };
    pairs
        .into_iter()
        .map(|(id, body)| {
            let normal = normal_id(id.strip_prefix("sha256:").unwrap_or(&id));
            let valid = !normal.is_empty()
                && normal.len() <= MAX_ID
                && normal
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
            if !valid {
                return Err(format!(
                    "{id:?} is not a document id (letters, digits, -_.:)"
                ));
            }
            async_graphql::parser::parse_query(&body)
                .map_err(|e| format!("the document {id} does not parse: {e}"))?;
            let hash = sha256_hex(&body);
            Ok((normal, hash, body))
        })
        .collect()
}

/// Trusts a manifest's documents (`smilecook documents trust`, `TRUSTED_DOCUMENTS`); how many.
pub async fn trust_manifest(
    db: &DatabaseConnection,
    text: &str,
    clock: &Clock,
) -> Result<usize, String> {
    let documents = read_manifest(text)?;
    let now = clock.now().timestamp_millis();
    db::trust(db, &documents, now)
        .await
        .map_err(|e| format!("the manifest could not be stored: {e}"))?;
    Ok(documents.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codegen_manifest_and_an_apollo_manifest_read_alike() {
        let codegen = r#"{"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789": "{ recipes { totalCount } }"}"#;
        let read = read_manifest(codegen).expect("reads");
        assert_eq!(
            read[0].0,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
        assert_eq!(read[0].1, sha256_hex("{ recipes { totalCount } }"));
        let apollo = r#"{"format":"apollo-persisted-query-manifest","version":1,
            "operations":[{"id":"q1","name":"Q","type":"query","body":"query Q { me { id } }"}]}"#;
        assert_eq!(read_manifest(apollo).expect("reads")[0].0, "q1");
    }

    #[test]
    fn a_manifest_with_a_broken_document_or_id_is_refused_whole() {
        assert!(read_manifest(r#"{"a": "{ me { id "}"#).is_err());
        assert!(read_manifest(r#"{"a b": "{ me { id } }"}"#).is_err());
        assert!(read_manifest(r#"[1]"#).is_err());
    }
}
