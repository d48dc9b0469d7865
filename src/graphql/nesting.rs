//! How deeply a document's text nests brackets, found by one linear scan before any recursive
//! code sees it.
//!
//! async-graphql's parser builds its syntax tree by recursion, one level per `[`, `{` or `(`,
//! and so do its validation, its value coercion and the drop of the tree: about 300 nested
//! values overflowed a debug build's 2 MiB worker stack and aborted the whole process (1,500
//! a release build's). pest, under the parser, bounds only its own stack. So every path that
//! parses a document (POST, GET, the cache, the explaining schema) first asks [`deepest`].
//!
//! The scan knows just enough GraphQL to skip what is not structure: strings (`"..."` with
//! escapes), block strings (`"""..."""` with `\"""`) and comments (`#` to the end of the line).
//! It does not check that brackets match; the parser reports that.

/// The most brackets (`{`, `[`, `(`) any document may have open at once: deep enough for
/// any real operation (GraphiQL's introspection query needs 15 at most), and a fifth of the
/// depth that overflowed a debug build's worker stack.
pub const MAX_NESTING: usize = 64;

/// Where the text first opens more than `limit` brackets at once: the byte offset of that
/// bracket. `None` when it never does.
pub fn deepest(text: &str, limit: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => i = line_end(bytes, i),
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = block_string_end(bytes, i + 3),
            b'"' => i = string_end(bytes, i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the newline ending the comment at `from` (or the last byte).
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |n| from + n)
}

/// The index of the quote closing a string whose content starts at `from`. A string ends at a
/// line break too (the parser then reports it unterminated).
fn string_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' | b'\n' | b'\r' => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index of the last quote closing a block string whose content starts at `from`.
fn block_string_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(text: &str) -> usize {
        (0..=text.len())
            .find(|&limit| deepest(text, limit).is_none())
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn every_kind_of_bracket_counts() {
        assert_eq!(depth_of("{ a }"), 1);
        assert_eq!(depth_of("{ a(x: [[{ y: 1 }]]) { b } }"), 5);
        assert_eq!(depth_of("query($v: [[Int]]) { a }"), 3);
        assert_eq!(depth_of("{ a } { b } { c }"), 1);
    }

    #[test]
    fn brackets_in_strings_block_strings_and_comments_do_not_count() {
        assert_eq!(depth_of(r#"{ a(x: "[[[{{{") }"#), 2);
        assert_eq!(depth_of(r#"{ a(x: "\"[[[") }"#), 2);
        assert_eq!(depth_of(r#"{ a(x: "\\") { b } }"#), 2);
        assert_eq!(depth_of("{ a(x: \"\"\"[[[ \\\"\"\" {{{\"\"\") }"), 2);
        assert_eq!(depth_of("{ a # [[[{{{\n b }"), 1);
    }

    #[test]
    fn the_offset_of_the_first_bracket_over_the_limit_is_reported() {
        assert_eq!(deepest("[[[1]]]", 2), Some(2));
        assert_eq!(deepest("[[1]] [[1]]", 2), None);
    }

    #[test]
    fn unterminated_strings_comments_and_brackets_end_the_scan_quietly() {
        assert_eq!(deepest("{ a(x: \"[[[", 1), Some(3));
        assert_eq!(deepest("{ a(x: \"\"\"[[[", 2), None);
        assert_eq!(deepest("# [[[", 0), None);
        assert_eq!(deepest("]]]}}}{", 1), None);
    }

    #[test]
    fn a_string_ends_at_a_line_break() {
        assert_eq!(depth_of("{ a(x: \"oops\n) { b } }"), 2);
    }

    #[test]
    fn nesting_far_past_the_limit_is_found_without_recursion() {
        let deep = format!(
            "{{ a(x: {}1{}) }}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(deepest(&deep, MAX_NESTING), Some(7 + MAX_NESTING - 2));
    }
}
