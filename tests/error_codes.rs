//! Every code a client can meet, in `extensions.code` or as a close reason, comes from the one
//! error module (`smilecook::error`), and the README's table of error codes lists exactly
//! those: a code added without documentation, or documented without existing, fails here.

use std::collections::BTreeSet;

use smilecook::error::{AppError, Refusal};

/// The codes in the first column of the README's "Error codes" table.
fn documented() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let table = readme
        .split("## Error codes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has an Error codes section");
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .flat_map(|line| {
            let first = line.split('|').nth(1).unwrap_or_default();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_readme_lists_exactly_the_codes_the_server_can_send() {
    let mut codes: BTreeSet<String> = AppError::CODES.iter().map(|c| c.to_string()).collect();
    codes.extend(Refusal::ALL.iter().map(|r| r.code().to_owned()));

    let documented = documented();

    let undocumented: Vec<_> = codes.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&codes).collect();
    assert!(
        undocumented.is_empty(),
        "not in the README: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "in the README, sent by nothing: {unknown:?}"
    );
}
