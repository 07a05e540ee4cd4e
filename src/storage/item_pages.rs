//! Item list pages kept in memory until an item changes: the library view is the API's most
//! read list, and a page from memory costs a fraction of one from the database (one query
//! with its count, 50 rows copied through the driver's thread).
//!
//! A change made by this process drops every page at once. With SQLite the server is the
//! only process that writes items, so that is all. With PostgreSQL other servers may: every
//! item write also sends a NOTIFY, which each server's relay hears (`jobs::relay`), and pages
//! are kept only while that LISTEN connection is up (a change it could have missed would
//! leave stale pages).

use super::items::{Cursor, Item, ItemFilter, ItemSort, KeysetPage};
use super::{Page, PageRequest, Viewer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of items kept at most, all pages together, whatever page sizes and text lengths
/// clients make (all pages are dropped when full: they are cheap to read again).
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// What an item holds besides its text fields (numbers, uuid, dates, its location).
const ITEM_BYTES: usize = 512;

/// A generation under which [`ItemPages::put`] keeps nothing (generations count up from 0).
pub(crate) const NEVER_KEPT: u64 = u64::MAX;

/// A kept page: numbered (with the count), or keyset (with the next page's cursor).
#[derive(Clone, Debug)]
pub(crate) enum KeptPage {
    Numbered(Arc<Page<Item>>),
    Keyset(Arc<KeysetPage>),
}

impl KeptPage {
    fn rows(&self) -> &[Item] {
        match self {
            KeptPage::Numbered(p) => &p.rows,
            KeptPage::Keyset(p) => &p.rows,
        }
    }
}

/// About how much memory `page` holds.
fn bytes_of(page: &KeptPage) -> usize {
    page.rows()
        .iter()
        .map(|i| {
            ITEM_BYTES
                + i.title.len()
                + i.description.len()
                + i.artist.len()
                + i.album.len()
                + i.file_name.len()
                + i.source_url.len()
                + i.tags.to_string().len()
                + i.collection.len()
                + i.metadata.to_string().len()
        })
        .sum()
}

pub(crate) struct ItemPages {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether pages may be kept at all (see the module's comment).
    active: bool,
    /// Counts item changes: a page read from the database before a change is not kept.
    generation: u64,
    pages: HashMap<Key, KeptPage>,
    bytes: usize,
}

/// Everything a page depends on besides the items: who reads, the filters, the order, where
/// the page is in the list and its size.
#[derive(Clone, Hash, PartialEq, Eq)]
pub(crate) struct Key {
    user: Option<uuid::Uuid>,
    admin: bool,
    filter: ItemFilter,
    sort: ItemSort,
    /// The page's number, or (keyset) its cursor's text, empty for the first.
    position: Position,
    size: u64,
}

#[derive(Clone, Hash, PartialEq, Eq)]
enum Position {
    Numbered(u64),
    After(String),
}

impl Key {
    pub(crate) fn new(viewer: &Viewer, filter: &ItemFilter, sort: ItemSort, page: PageRequest) -> Key {
        Key::at(viewer, filter, sort, Position::Numbered(page.page), page.size)
    }

    pub(crate) fn after(
        viewer: &Viewer,
        filter: &ItemFilter,
        sort: ItemSort,
        after: Option<&Cursor>,
        size: u64,
    ) -> Key {
        Key::at(viewer, filter, sort, Position::After(after.map(Cursor::encode).unwrap_or_default()), size)
    }

    fn at(viewer: &Viewer, filter: &ItemFilter, sort: ItemSort, position: Position, size: u64) -> Key {
        Key { user: viewer.user, admin: viewer.admin, filter: filter.clone(), sort, position, size }
    }
}

impl ItemPages {
    /// Pages kept from the start (SQLite), or only once [`set_active`](Self::set_active).
    pub(crate) fn new(active: bool) -> ItemPages {
        ItemPages { inner: Mutex::new(Inner { active, ..Default::default() }) }
    }

    /// The kept page, or the generation to give [`put`](Self::put) with the page read now.
    pub(crate) fn get(&self, key: &Key) -> Result<KeptPage, u64> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.pages.get(key).cloned().ok_or(inner.generation)
    }

    /// Keeps `page`, read at `generation`, unless an item changed since (or pages are not
    /// kept now).
    pub(crate) fn put(&self, key: Key, generation: u64, page: KeptPage) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.active || inner.generation != generation {
            return;
        }
        let bytes = bytes_of(&page);
        if bytes > MAX_BYTES {
            return;
        }
        if inner.bytes + bytes > MAX_BYTES {
            inner.pages.clear();
            inner.bytes = 0;
        }
        inner.bytes += bytes;
        if let Some(replaced) = inner.pages.insert(key, page) {
            inner.bytes -= bytes_of(&replaced);
        }
    }

    /// An item was added, changed or deleted (call after the change is committed).
    pub(crate) fn invalidate(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::drop_all(&mut inner);
    }

    /// Starts or stops keeping pages; either way what was kept is dropped.
    pub(crate) fn set_active(&self, active: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.active = active;
        Self::drop_all(&mut inner);
    }

    fn drop_all(inner: &mut Inner) {
        inner.generation += 1;
        inner.pages.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(count: u64) -> KeptPage {
        KeptPage::Numbered(Arc::new(Page { count, rows: Vec::new() }))
    }

    fn count(page: KeptPage) -> Option<u64> {
        match page {
            KeptPage::Numbered(p) => Some(p.count),
            KeptPage::Keyset(_) => None,
        }
    }

    #[test]
    fn a_page_read_before_a_change_is_never_kept_and_a_change_drops_every_page() {
        let pages = ItemPages::new(true);
        let filter = ItemFilter::default();
        let first = Key::new(&Viewer::ANONYMOUS, &filter, ItemSort::NEWEST, PageRequest { page: 1, size: 50 });
        let admin = Key::new(&Viewer::ADMIN, &filter, ItemSort::NEWEST, PageRequest { page: 1, size: 50 });
        let generation = pages.get(&first).expect_err("empty");
        pages.put(first.clone(), generation, page(1));
        assert_eq!(pages.get(&first).map(count), Ok(Some(1)));
        // The first keyset page of the same list is another page.
        let keyset = Key::after(&Viewer::ANONYMOUS, &filter, ItemSort::NEWEST, None, 50);
        assert!(pages.get(&keyset).is_err());
        // Another reader's view is its own.
        assert!(pages.get(&admin).is_err());
        // A reader that read before a change does not keep its (stale) page.
        let before = pages.get(&admin).expect_err("not kept");
        pages.invalidate();
        pages.put(admin.clone(), before, page(2));
        assert!(pages.get(&admin).is_err());
        assert!(pages.get(&first).is_err(), "a change drops every page");
        // Inactive (PostgreSQL with its LISTEN connection down): nothing is kept.
        pages.set_active(false);
        let generation = pages.get(&first).expect_err("empty");
        pages.put(first.clone(), generation, page(3));
        assert!(pages.get(&first).is_err());
        // Reactivated: a page read before is not kept either.
        pages.set_active(true);
        pages.put(first.clone(), generation, page(4));
        assert!(pages.get(&first).is_err());
    }
}
