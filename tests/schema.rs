//! The checked-in `schema.graphql` is what clients build against: it must match the code.

#[test]
fn the_checked_in_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();

    let exported = smilecook::graphql::schema::sdl();

    if checked_in != exported {
        let first_difference = checked_in
            .lines()
            .zip(exported.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "at the end".to_owned(), |n| format!("at line {}", n + 1));
        panic!(
            "schema.graphql is stale (first difference {first_difference}): \
             run `cargo run -- export-schema > schema.graphql`"
        );
    }
}

/// The checked-in file also describes what the running server introspects as: every type,
/// field, argument, default, description, deprecation and `@specifiedBy`, compared one by one
/// (schema.graphql parsed, the server asked with graphql-js's standard introspection query).
#[tokio::test]
async fn the_checked_in_schema_describes_what_introspection_serves() {
    let app = common::spawn_app().await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let text = std::fs::read_to_string(path).expect("schema.graphql");
    let document = async_graphql::parser::parse_schema(&text).expect("schema.graphql parses");
    let query = include_str!("operations/introspection.graphql");

    let served = app.graphql(query, json!({}), None).await;

    let served = &served["data"]["__schema"];
    let served_types: Vec<Value> = served["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter(|t| !is_built_in(t["name"].as_str().unwrap_or("")))
        .map(introspected)
        .collect();
    let file_types: Vec<Value> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some(declared(&t.node)),
            _ => None,
        })
        .collect();
    let (file, served_by_name) = (by_name(file_types), by_name(served_types));
    let names = |types: &BTreeMap<String, Value>| types.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&file), names(&served_by_name), "the types differ");
    for (name, declared) in &file {
        assert_eq!(
            declared, &served_by_name[name],
            "schema.graphql declares `{name}` otherwise than introspection serves it"
        );
    }
    assert_eq!(served["queryType"]["name"], "Query");
    assert_eq!(served["mutationType"]["name"], "Mutation");
}

mod common;

use std::collections::BTreeMap;

use async_graphql::parser::types::{
    BaseType, ConstDirective, InputValueDefinition, Type, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use serde_json::{Value, json};

fn is_built_in(name: &str) -> bool {
    name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name)
}

fn by_name(types: Vec<Value>) -> BTreeMap<String, Value> {
    types
        .into_iter()
        .map(|t| (t["name"].as_str().unwrap_or("").to_owned(), t))
        .collect()
}

/// A type reference in SDL notation, from introspection's `ofType` chain.
fn type_ref(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or("").to_owned(),
    }
}

fn sorted(mut items: Vec<Value>) -> Value {
    items.sort_by_key(|v| v["name"].as_str().unwrap_or("").to_owned());
    Value::Array(items)
}

/// One type as introspection describes it, in a shape both sides are brought to.
fn introspected(t: &Value) -> Value {
    let list = |key: &str, f: &dyn Fn(&Value) -> Value| match t[key].as_array() {
        Some(items) => sorted(items.iter().map(f).collect()),
        None => Value::Null,
    };
    let input = |v: &Value| {
        json!({ "name": v["name"], "description": v["description"], "type": type_ref(&v["type"]),
                "defaultValue": v["defaultValue"], "deprecated": v["deprecationReason"] })
    };
    json!({
        "kind": t["kind"], "name": t["name"], "description": t["description"],
        "specifiedByURL": t["specifiedByURL"],
        "fields": list("fields", &|f| json!({
            "name": f["name"], "description": f["description"], "type": type_ref(&f["type"]),
            "args": sorted(f["args"].as_array().map(|a| a.iter().map(input).collect()).unwrap_or_default()),
            "deprecated": f["deprecationReason"],
        })),
        "inputFields": list("inputFields", &input),
        "enumValues": list("enumValues", &|e| json!({
            "name": e["name"], "description": e["description"], "deprecated": e["deprecationReason"],
        })),
        "interfaces": list("interfaces", &|i| json!({ "name": i["name"] })),
        "possibleTypes": list("possibleTypes", &|i| json!({ "name": i["name"] })),
    })
}

/// `@name(arg: "...")`'s string argument, if the directive is there.
fn directive_arg(
    directives: &[async_graphql::Positioned<ConstDirective>],
    name: &str,
    arg: &str,
) -> Value {
    directives
        .iter()
        .find(|d| d.node.name.node == name)
        .map_or(Value::Null, |d| match d.node.get_argument(arg) {
            Some(v) => v.node.clone().into_json().unwrap_or(Value::Null),
            None => Value::Null,
        })
}

fn sdl_type(t: &Type) -> String {
    let base = match &t.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => format!("[{}]", sdl_type(inner)),
    };
    if t.nullable { base } else { format!("{base}!") }
}

fn description(d: &Option<async_graphql::Positioned<String>>) -> Value {
    d.as_ref()
        .map_or(Value::Null, |d| Value::String(d.node.clone()))
}

/// One type as schema.graphql declares it, in the same shape.
fn declared(t: &TypeDefinition) -> Value {
    let input = |v: &InputValueDefinition| {
        json!({ "name": v.name.node.as_str(), "description": description(&v.description),
                "type": sdl_type(&v.ty.node),
                "defaultValue": v.default_value.as_ref().map(|d| d.node.to_string()),
                "deprecated": deprecated(&v.directives) })
    };
    let empty = || Value::Array(Vec::new());
    let (mut fields, mut inputs, mut values, mut interfaces, mut possible) =
        (Value::Null, Value::Null, Value::Null, empty(), Value::Null);
    let kind = match &t.kind {
        TypeKind::Scalar => "SCALAR",
        TypeKind::Object(o) => {
            fields = sorted(o.fields.iter().map(|f| {
                let f = &f.node;
                json!({ "name": f.name.node.as_str(), "description": description(&f.description),
                        "type": sdl_type(&f.ty.node),
                        "args": sorted(f.arguments.iter().map(|a| input(&a.node)).collect()),
                        "deprecated": deprecated(&f.directives) })
            }).collect());
            interfaces = sorted(
                o.implements
                    .iter()
                    .map(|i| json!({ "name": i.node.as_str() }))
                    .collect(),
            );
            "OBJECT"
        }
        TypeKind::Enum(e) => {
            values = sorted(e.values.iter().map(|v| {
                let v = &v.node;
                json!({ "name": v.value.node.as_str(), "description": description(&v.description),
                        "deprecated": deprecated(&v.directives) })
            }).collect());
            "ENUM"
        }
        TypeKind::InputObject(i) => {
            inputs = sorted(i.fields.iter().map(|f| input(&f.node)).collect());
            "INPUT_OBJECT"
        }
        TypeKind::Interface(_) => "INTERFACE",
        TypeKind::Union(u) => {
            possible = sorted(
                u.members
                    .iter()
                    .map(|m| json!({ "name": m.node.as_str() }))
                    .collect(),
            );
            "UNION"
        }
    };
    json!({
        "kind": kind, "name": t.name.node.as_str(), "description": description(&t.description),
        "specifiedByURL": directive_arg(&t.directives, "specifiedBy", "url"),
        "fields": fields, "inputFields": inputs, "enumValues": values,
        "interfaces": if kind == "OBJECT" || kind == "INTERFACE" { interfaces } else { Value::Null },
        "possibleTypes": possible,
    })
}

fn deprecated(directives: &[async_graphql::Positioned<ConstDirective>]) -> Value {
    match directives.iter().any(|d| d.node.name.node == "deprecated") {
        true => match directive_arg(directives, "deprecated", "reason") {
            Value::Null => Value::String("No longer supported".into()),
            reason => reason,
        },
        false => Value::Null,
    }
}
