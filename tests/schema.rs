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
