//! The OpenAPI schemas of the validated values, beside the rules they describe. A pattern here
//! says exactly what the value's `parse` accepts (surrounding blanks included, which `parse`
//! trims), so a client reading the schema and the API agree on every input.

/// The characters Rust's `str::trim` removes (Unicode `White_Space`), as a character-class body.
macro_rules! ws_chars {
    () => {
        r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// Control characters (`char::is_control`, Unicode `Cc`), as a character-class body.
macro_rules! control_chars {
    () => {
        r"\u0000-\u001f\u007f-\u009f"
    };
}

/// `^<blanks>INNER<blanks>$`: a value `parse` trims before checking INNER.
macro_rules! trimmed {
    ($inner:literal) => {
        concat!(
            "^[",
            $crate::domain::schema::ws_chars!(),
            "]*",
            $inner,
            "[",
            $crate::domain::schema::ws_chars!(),
            "]*$"
        )
    };
}

/// Trimmed free text of 1 to `$middle + 2` characters with no control character and none of
/// `$forbidden`: the first and last kept characters are not blanks, inner ones may be.
macro_rules! trimmed_text {
    ($forbidden:literal, $middle:literal) => {
        concat!(
            "^[",
            $crate::domain::schema::ws_chars!(),
            "]*(?:[^",
            $crate::domain::schema::control_chars!(),
            $crate::domain::schema::ws_chars!(),
            $forbidden,
            "](?:[^",
            $crate::domain::schema::control_chars!(),
            $forbidden,
            "]{0,",
            $middle,
            "}[^",
            $crate::domain::schema::control_chars!(),
            $crate::domain::schema::ws_chars!(),
            $forbidden,
            "])?)[",
            $crate::domain::schema::ws_chars!(),
            "]*$"
        )
    };
}

pub(crate) use {control_chars, trimmed, trimmed_text, ws_chars};

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

/// A string schema with a pattern.
pub(crate) fn string(pattern: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// Free text that is not only blanks, of 1 to `max` characters (kept as written).
pub(crate) fn text(max: usize, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(concat!("[^", ws_chars!(), "]")))
        .description(Some(description))
        .into()
}

/// An instant as the API writes it (RFC 3339, UTC, milliseconds) and reads it (any RFC 3339).
pub(crate) fn instant() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .examples([serde_json::json!("2026-11-21T08:00:00.000Z")])
        .build()
        .into()
}

/// An optional instant: a date-time or null.
pub(crate) fn instant_or_null() -> Schema {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_are_what_they_say() {
        assert_eq!(
            trimmed!("[a-z]{1,2}"),
            r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[a-z]{1,2}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
        );
    }
}
