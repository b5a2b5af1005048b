//! A referrer's collection (GSI1 `SOURCE#<kind>#<name>`): for each code, the code item, then
//! each referee followed by that referee's rewards. Pages count referees and never split a
//! referee from their rewards.

use super::attrs::{Attrs, attr, corrupt, entity_of, from_attrs};
use super::{DynamoStore, Index, SortKey};
use crate::domain::{MemberProfile, ReferralCodeRecord, ReferralSource, Reward, Side};
use crate::store::items::{Entity, Item};
use crate::store::{CollectionEntry, Collections, Cursor, Page, PageRequest, StoreError, keys};
use async_trait::async_trait;
use std::collections::BTreeMap;

impl DynamoStore {
    async fn collection(
        &self,
        source: &ReferralSource,
        sort: SortKey,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        let pk = keys::source_gsi1pk(source);
        // The page's limit counts referees. A referee is followed by at most 2 rewards, so
        // ask for enough items to hold that many referees (and a code item) and one more
        // referee, then end the page on a referee boundary.
        let referees = page.effective_limit() as usize;
        let lookahead = PageRequest {
            limit: Some(((referees + 1) * (1 + Side::BOTH.len()) + 1) as u32),
            cursor: page.cursor.clone(),
        };
        let (mut rows, next) = self
            .page("collection", Index::Gsi1, &pk, &sort, &lookahead)
            .await?;
        let entities = rows.iter().map(entity_of).collect::<Result<Vec<_>, _>>()?;
        let keep = referee_boundary(&entities, referees, next.is_some());
        let next = if keep < rows.len() {
            Some(cursor_at(&rows[keep - 1]))
        } else {
            next
        };
        rows.truncate(keep);
        let items = rows
            .into_iter()
            .zip(entities)
            .map(|(attrs, entity)| match entity {
                Entity::Code => Ok(CollectionEntry::Code(
                    from_attrs::<Item<ReferralCodeRecord>>(attrs)?.data,
                )),
                Entity::Member => Ok(CollectionEntry::Referee(Box::new(
                    from_attrs::<Item<MemberProfile>>(attrs)?.data,
                ))),
                Entity::Reward => Ok(CollectionEntry::Reward(Box::new(
                    from_attrs::<Item<Reward>>(attrs)?.data,
                ))),
                other => Err(corrupt(
                    &attrs,
                    format!("unexpected {other:?} in a referrer collection"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}

#[async_trait]
impl Collections for DynamoStore {
    async fn referrer_collection(
        &self,
        source: &ReferralSource,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        self.collection(source, SortKey::Any, page).await
    }

    async fn code_collection(
        &self,
        code: &ReferralCodeRecord,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        let prefix = SortKey::BeginsWith(keys::code_gsi1sk(&code.code));
        self.collection(&code.source, prefix, page).await
    }
}

/// How many of a collection query's `entities` a page of `referees` keeps: everything before
/// the (`referees` + 1)-th referee, so a referee's rewards (which follow it in key order) are
/// always on the referee's page. When the rows end on a referee whose rewards we could not
/// all see and DynamoDB has more (`more`), the page stops before that referee (unless it is
/// the only one on the page).
fn referee_boundary(entities: &[Entity], referees: usize, more: bool) -> usize {
    let mut keep = entities.len();
    let mut seen = 0;
    for (i, e) in entities.iter().enumerate() {
        if *e == Entity::Member {
            seen += 1;
            if seen > referees {
                keep = i;
                break;
            }
        }
    }
    if keep == entities.len()
        && more
        && let Some(start) = entities[..keep].iter().rposition(|e| *e == Entity::Member)
    {
        let rewards = keep - start - 1;
        if rewards < Side::BOTH.len() && start > 0 {
            keep = start;
        }
    }
    keep
}

/// The cursor of a page that ends at `row`: its table and index key, as DynamoDB's own
/// LastEvaluatedKey of a GSI1 query would be.
fn cursor_at(row: &Attrs) -> Cursor {
    let key: BTreeMap<String, String> = [keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), attr(row, k)?.clone())))
        .collect();
    Cursor::encode(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Entity::{Code, Member, Reward};

    #[test]
    fn pages_hold_whole_referees() {
        // Two referees per page: the page stops before the third.
        assert_eq!(
            referee_boundary(
                &[Code, Member, Reward, Reward, Member, Member, Reward],
                2,
                true
            ),
            5
        );
        // Referees without rewards count as referees too.
        assert_eq!(referee_boundary(&[Member, Member, Member], 2, false), 2);
        // Everything fits, nothing more in DynamoDB.
        assert_eq!(referee_boundary(&[Code, Member, Reward], 5, false), 3);
        // The rows stop on a referee with one reward seen while DynamoDB has more: stop before it.
        assert_eq!(
            referee_boundary(&[Code, Member, Reward, Reward, Member, Reward], 9, true),
            4
        );
        // ...unless it is all the page has.
        assert_eq!(referee_boundary(&[Member, Reward], 9, true), 2);
        // A referee with both rewards is complete.
        assert_eq!(
            referee_boundary(&[Code, Member, Reward, Reward], 9, true),
            4
        );
    }
}
