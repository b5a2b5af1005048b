//! The `If-Match` header of an event replace, read as RFC 9110 entity tags.

use super::*;

/// The entity-tags of an `If-Match` header (RFC 9110 §13.1.1), for a replace: it must be
/// present and name at least one version (`*` names none: 428, like a missing header); a value
/// that is not a list of entity-tags is a 400. Weak tags never match (the comparison is strong).
pub(super) struct IfMatch(Vec<EntityTag>);

#[derive(Debug, PartialEq, Eq)]
pub(super) struct EntityTag {
    weak: bool,
    opaque: String,
}

impl IfMatch {
    pub(super) fn names(&self, version: &str) -> bool {
        self.0.iter().any(|t| !t.weak && t.opaque == version)
    }
}

/// What an `If-Match` value says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum IfMatchValue {
    /// `*`: any current version.
    Any,
    /// One or more entity-tags.
    Tags(Vec<EntityTag>),
}

/// `*`, or the comma-separated entity-tags; `None` when the text is neither.
pub(super) fn parse_if_match(text: &str) -> Option<IfMatchValue> {
    const OWS: [char; 2] = [' ', '\t'];
    if text.trim_matches(OWS) == "*" {
        return Some(IfMatchValue::Any);
    }
    let mut tags = Vec::new();
    // A list may hold empty elements ("a, , b"); an entity-tag may hold commas itself, so the
    // list is read tag by tag rather than split.
    let mut rest = text.trim_start_matches(OWS);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(OWS);
            continue;
        }
        let (weak, tag) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let tag = tag.strip_prefix('"')?;
        let end = tag.find('"')?;
        let opaque = &tag[..end];
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: opaque.to_owned(),
        });
        rest = tag[end + 1..].trim_start_matches(OWS);
        if !rest.is_empty() && !rest.starts_with(',') {
            return None;
        }
    }
    (!tags.is_empty()).then_some(IfMatchValue::Tags(tags))
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let malformed = || ApiError::Invalid {
            code: "invalid_header",
            message: "If-Match must be a list of entity-tags, as the ETag header gives them \
                      (e.g. \"1767225600000\")"
                .into(),
            field: Some("If-Match".into()),
        };
        let mut lines = Vec::new();
        for value in parts.headers.get_all(header::IF_MATCH) {
            lines.push(value.to_str().map_err(|_| malformed())?);
        }
        if lines.is_empty() {
            return Err(ApiError::PreconditionRequired);
        }
        match parse_if_match(&lines.join(", ")) {
            Some(IfMatchValue::Tags(tags)) => Ok(IfMatch(tags)),
            Some(IfMatchValue::Any) => Err(ApiError::PreconditionRequired),
            None => Err(malformed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(None)` = `*`.
    fn tags(text: &str) -> Option<Option<Vec<(bool, String)>>> {
        parse_if_match(text).map(|value| match value {
            IfMatchValue::Any => None,
            IfMatchValue::Tags(tags) => {
                Some(tags.into_iter().map(|t| (t.weak, t.opaque)).collect())
            }
        })
    }

    fn strong(opaque: &str) -> (bool, String) {
        (false, opaque.to_owned())
    }

    #[test]
    fn if_match_is_read_as_rfc_9110_entity_tags() {
        assert_eq!(tags("\"123\""), Some(Some(vec![strong("123")])));
        assert_eq!(
            tags(" W/\"1\" ,\"a,b\", , \"\"  "),
            Some(Some(vec![
                (true, "1".to_owned()),
                strong("a,b"),
                strong("")
            ]))
        );
        assert_eq!(tags(" * "), Some(None), "* names no version");
        for malformed in [
            "",
            " ",
            "123",
            "\"123",
            "\"1\" \"2\"",
            "W/123",
            "\"a b\"",
            ",",
        ] {
            assert_eq!(tags(malformed), None, "{malformed:?}");
        }
        let names_42 = |text: &str| match parse_if_match(text) {
            Some(IfMatchValue::Tags(tags)) => IfMatch(tags).names("42"),
            other => panic!("{other:?}"),
        };
        assert!(names_42("\"42\""));
        assert!(names_42("\"7\", \"42\""));
        assert!(
            !names_42("W/\"42\""),
            "a weak tag never matches (strong comparison)"
        );
        assert!(!names_42("\"420\""));
    }
}
