"""schemathesis hooks for scripts/fuzz-api.sh.

A schema-valid request is one JSON Schema can describe; a few rules of the API relate values to
each other or to what the API issued, which JSON Schema cannot state. A valid-mode request that
breaks only such a rule is answered 400 by design; the failure "schema-valid request rejected"
is dropped for exactly these answers, named by their error code, field and message. Every
other failure stands.
"""

import json

import schemathesis

# (error.code, error.field prefix or None, words in error.message): rules the schema cannot state.
_RULES_BEYOND_JSON_SCHEMA = (
    # Cursors are opaque tokens bound to the listing that issued them (docs/api.md).
    ("invalid_query", "cursor", "not a cursor this listing issued"),
    # A window's start is before its end.
    ("invalid_field", None, "start must be before end"),
    # Windows of one kind do not overlap; window ids are unique within an event.
    ("invalid_field", None, "overlap"),
    ("invalid_field", None, "is used twice"),
    # At most 49 windows in all; copy JSON at most 2048 characters once serialized.
    ("invalid_field", None, "windows in all"),
    ("invalid_field", None, "serialized JSON must be at most"),
    # Copy JSON is stored as a DynamoDB map: no empty object key, at any depth.
    ("invalid_field", None, "object keys must not be empty"),
    # Reward rules (docs/rules.md): a review hold names at least one of its two thresholds;
    # milestones are distinct and reachable under a per-event cap.
    ("invalid_field", "rules.review_hold", "needs referees_per_24h, amount_at_least or both"),
    ("invalid_field", "rules.milestones.nth", "is listed twice"),
    ("invalid_field", "rules.milestones.nth", "can never be reached"),
    ("invalid_field", "rules.milestones", "at most 10 milestones"),
    # A CAMPAIGN event takes no rule that concerns a code's owner (cap, velocity hold,
    # milestones, self-referral): the event type and the rules are two fields (docs/rules.md).
    ("invalid_field", None, "applies to members' codes only"),
    # The one PERSONAL event is the deployment's PERSONAL_EVENT_ID (docs/api.md): an event id
    # and a type together, against the deployment's configuration.
    ("invalid_field", "event_id", "(PERSONAL_EVENT_ID)"),
    ("invalid_field", "event_type", "(PERSONAL_EVENT_ID)"),
    # A funnel's range: `to` not before `from`, at most 366 days (docs/api.md).
    ("invalid_field", "to", "must not be before from"),
    ("invalid_field", "to", "the range may span at most"),
)


def _error(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 400:
        return True
    error = _error(response)
    if error is None:
        return True
    code, field, message = error.get("code"), error.get("field") or "", error.get("message") or ""
    for rule_code, rule_field, words in _RULES_BEYOND_JSON_SCHEMA:
        if code == rule_code and (rule_field is None or field == rule_field) and words in message:
            return False
    return True
