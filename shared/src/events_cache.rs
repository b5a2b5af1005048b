//! Event configurations cached in memory for a short time (DESIGN: campaign configuration may
//! be cached). Shared by the concurrent member tasks of a batch and across invocations.

use crate::domain::{EventConfig, EventId};
use crate::store::{EventReads, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When an entry was loaded, and the configuration (None: the event does not exist).
type Entry = (Instant, Option<Arc<EventConfig>>);

#[derive(Debug)]
pub struct ConfigCache {
    ttl: Duration,
    entries: Mutex<HashMap<EventId, Entry>>,
}

impl ConfigCache {
    /// `ttl` = how stale a configuration may be (`CONFIG_CACHE_SECONDS`, default 60).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, event: &EventId) -> Option<Option<Arc<EventConfig>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(event)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, c)| c.clone())
    }

    /// The configurations of `events` that exist; 1 Query per event not cached.
    pub async fn get_many<S: EventReads + ?Sized>(
        &self,
        store: &S,
        events: &[EventId],
    ) -> Result<HashMap<EventId, Arc<EventConfig>>, StoreError> {
        let mut out = HashMap::new();
        for event in events {
            let config = match self.fresh(event) {
                Some(c) => c,
                None => {
                    let loaded = store.event_config(event).await?.map(Arc::new);
                    self.entries
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(event.clone(), (Instant::now(), loaded.clone()));
                    loaded
                }
            };
            if let Some(c) = config {
                out.insert(event.clone(), c);
            }
        }
        Ok(out)
    }
}
