//! The one place sessions (and batches) of a kind are owned: by id, in creation order, and by
//! unique name. Reads take a shared lock for a map lookup and clone an `Arc`; nothing is awaited
//! while the lock is held.

use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the registry needs to know of an entry.
pub trait Entry {
    fn id(&self) -> u32;
    fn name(&self) -> Option<&str>;
}

/// A claimed id and name, held while the entry is being built (a spark-submit started) outside
/// the lock. Dropping it without [`Registry::insert`] releases the name.
pub struct Reservation {
    pub id: u32,
    name: Option<String>,
}

/// Why a name could not be claimed (Livy's `SessionManager.register` messages).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("Invalid session name: {0}")]
    AllDigits(String),
    #[error("Duplicate session name: {0}")]
    Duplicate(String),
}

struct Inner<T> {
    by_id: BTreeMap<u32, Arc<T>>,
    by_name: HashMap<String, u32>,
    next_id: u32,
}

/// Sessions of one kind (interactive or batch).
pub struct Registry<T> {
    inner: RwLock<Inner<T>>,
}

impl<T: Entry> Default for Registry<T> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T: Entry> Registry<T> {
    pub fn new(next_id: u32) -> Self {
        Registry {
            inner: RwLock::new(Inner {
                by_id: BTreeMap::new(),
                by_name: HashMap::new(),
                next_id,
            }),
        }
    }

    /// Looks up by id when the path segment is all digits, else by name (as Livy does).
    pub fn get(&self, id_or_name: &str) -> Option<Arc<T>> {
        let inner = self.inner.read();
        if !id_or_name.is_empty() && id_or_name.bytes().all(|b| b.is_ascii_digit()) {
            let id: u32 = id_or_name.parse().ok()?;
            inner.by_id.get(&id).cloned()
        } else {
            let id = inner.by_name.get(id_or_name)?;
            inner.by_id.get(id).cloned()
        }
    }

    pub fn get_id(&self, id: u32) -> Option<Arc<T>> {
        self.inner.read().by_id.get(&id).cloned()
    }

    /// One page in id order, and the total count.
    pub fn page(&self, from: usize, size: usize) -> (usize, Vec<Arc<T>>) {
        let inner = self.inner.read();
        let page = inner
            .by_id
            .values()
            .skip(from)
            .take(size)
            .cloned()
            .collect();
        (inner.by_id.len(), page)
    }

    pub fn all(&self) -> Vec<Arc<T>> {
        self.inner.read().by_id.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.inner.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id the next reservation will get.
    pub fn next_id(&self) -> u32 {
        self.inner.read().next_id
    }

    /// Claims the next id and, if given, the name. Changes nothing on error.
    pub fn reserve(&self, name: Option<&str>) -> Result<Reservation, NameError> {
        Self::check_name(name)?;
        let mut inner = self.inner.write();
        if let Some(n) = name {
            if inner.by_name.contains_key(n) {
                return Err(NameError::Duplicate(n.to_string()));
            }
        }
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        if let Some(n) = name {
            inner.by_name.insert(n.to_string(), id);
        }
        Ok(Reservation {
            id,
            name: name.map(String::from),
        })
    }

    /// Claims an id given out elsewhere (the service-wide counter of active/active) and, if
    /// given, the name. Changes nothing on error.
    pub fn reserve_id(&self, id: u32, name: Option<&str>) -> Result<Reservation, NameError> {
        Self::check_name(name)?;
        let mut inner = self.inner.write();
        if let Some(n) = name {
            if inner.by_name.contains_key(n) {
                return Err(NameError::Duplicate(n.to_string()));
            }
            inner.by_name.insert(n.to_string(), id);
        }
        inner.next_id = inner.next_id.max(id.wrapping_add(1));
        Ok(Reservation {
            id,
            name: name.map(String::from),
        })
    }

    /// Livy's check of a name before anything is claimed for it.
    pub fn check_name(name: Option<&str>) -> Result<(), NameError> {
        match name {
            // Livy's check (`forall(_.isDigit)`) is also true for "", so an empty name is invalid.
            Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => {
                Err(NameError::AllDigits(n.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Claims a name for an id reserved without one (a pooled driver taken by a request that
    /// names its session). Changes nothing on error.
    pub fn claim_name(&self, reservation: &mut Reservation, name: &str) -> Result<(), NameError> {
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::AllDigits(name.to_string()));
        }
        let mut inner = self.inner.write();
        if inner.by_name.contains_key(name) {
            return Err(NameError::Duplicate(name.to_string()));
        }
        inner.by_name.insert(name.to_string(), reservation.id);
        reservation.name = Some(name.to_string());
        Ok(())
    }

    /// Gives a name back if its entry was never inserted.
    pub fn release(&self, reservation: Reservation) {
        if let Some(n) = reservation.name {
            let mut inner = self.inner.write();
            if inner.by_name.get(&n) == Some(&reservation.id)
                && !inner.by_id.contains_key(&reservation.id)
            {
                inner.by_name.remove(&n);
            }
        }
    }

    /// Adds a built entry under its reservation.
    pub fn insert(&self, reservation: Reservation, entry: Arc<T>) {
        debug_assert_eq!(reservation.id, entry.id());
        self.inner.write().by_id.insert(reservation.id, entry);
    }

    /// Adds an entry recovered from a state store, keeping ids ahead of it.
    pub fn restore(&self, entry: Arc<T>) {
        let mut inner = self.inner.write();
        let id = entry.id();
        if let Some(n) = entry.name() {
            inner.by_name.insert(n.to_string(), id);
        }
        inner.next_id = inner.next_id.max(id.wrapping_add(1));
        inner.by_id.insert(id, entry);
    }

    /// Never gives out ids below `next` (a recovered `nextSessionId`).
    pub fn advance_next_id(&self, next: u32) {
        let mut inner = self.inner.write();
        inner.next_id = inner.next_id.max(next);
    }

    /// Forgets an entry and its name.
    pub fn remove(&self, id: u32) -> Option<Arc<T>> {
        let mut inner = self.inner.write();
        let entry = inner.by_id.remove(&id)?;
        if let Some(n) = entry.name() {
            if inner.by_name.get(n) == Some(&id) {
                inner.by_name.remove(n);
            }
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E(u32, Option<String>);
    impl Entry for E {
        fn id(&self) -> u32 {
            self.0
        }
        fn name(&self) -> Option<&str> {
            self.1.as_deref()
        }
    }

    fn add(r: &Registry<E>, name: Option<&str>) -> Result<u32, NameError> {
        let res = r.reserve(name)?;
        let id = res.id;
        r.insert(res, Arc::new(E(id, name.map(String::from))));
        Ok(id)
    }

    #[test]
    fn ids_names_and_pages() {
        let r = Registry::<E>::default();
        assert_eq!(add(&r, Some("etl")).unwrap(), 0);
        assert_eq!(add(&r, None).unwrap(), 1);
        assert_eq!(
            add(&r, Some("etl")),
            Err(NameError::Duplicate("etl".into()))
        );
        assert_eq!(
            add(&r, Some("123")),
            Err(NameError::AllDigits("123".into()))
        );
        // Rejections consume no id.
        assert_eq!(add(&r, None).unwrap(), 2);
        assert_eq!(r.get("etl").unwrap().0, 0);
        assert_eq!(r.get("1").unwrap().0, 1);
        assert!(r.get("99999999999999999999").is_none());
        let (total, page) = r.page(1, 5);
        assert_eq!((total, page.len(), page[0].0), (3, 2, 1));
        r.remove(0);
        assert!(r.get("etl").is_none());
        assert_eq!(add(&r, Some("etl")).unwrap(), 3);
    }

    #[test]
    fn a_name_claimed_later_is_unique_and_released_with_its_reservation() {
        let r = Registry::<E>::default();
        add(&r, Some("etl")).unwrap();
        let mut res = r.reserve(None).unwrap();
        assert_eq!(
            r.claim_name(&mut res, "etl"),
            Err(NameError::Duplicate("etl".into()))
        );
        assert_eq!(
            r.claim_name(&mut res, "42"),
            Err(NameError::AllDigits("42".into()))
        );
        r.claim_name(&mut res, "report").unwrap();
        assert!(r.reserve(Some("report")).is_err());
        r.release(res);
        assert!(r.reserve(Some("report")).is_ok());
    }

    #[test]
    fn ids_given_out_elsewhere_are_claimed_with_their_name() {
        let r = Registry::<E>::default();
        let res = r.reserve_id(7, Some("etl")).unwrap();
        assert_eq!(res.id, 7);
        r.insert(res, Arc::new(E(7, Some("etl".into()))));
        assert_eq!(r.get("etl").unwrap().0, 7);
        assert!(r.reserve_id(8, Some("etl")).is_err());
        assert!(r.reserve_id(8, Some("8")).is_err());
        assert_eq!(r.next_id(), 8);
    }

    #[test]
    fn released_reservations_free_the_name() {
        let r = Registry::<E>::default();
        let res = r.reserve(Some("x")).unwrap();
        r.release(res);
        assert_eq!(add(&r, Some("x")).unwrap(), 1);
    }
}
