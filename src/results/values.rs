//! [`Values`]: a table of numbers, one row per time point (or a single row for global results).
//! Stored flat as `f32` so long framewise results stay compact; serialised as a JSON list of
//! numbers when rows have one column and as a list of rows otherwise.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    data: Vec<f32>,
    width: usize,
}

impl Values {
    /// One number per time point (or the components of one global value).
    pub fn scalars(data: Vec<f32>) -> Self {
        Values { data, width: 1 }
    }

    /// Rows of `width` numbers, flattened row after row.
    pub fn rows_of(data: Vec<f32>, width: usize) -> Self {
        let width = width.max(1);
        debug_assert_eq!(data.len() % width, 0);
        Values { data, width }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.width
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.width..(i + 1) * self.width]
    }

    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.width == 1 { self.data.serialize(s) } else { s.collect_seq(self.data.chunks(self.width)) }
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flat(Vec<f32>),
            Rows(Vec<Vec<f32>>),
        }
        match Repr::deserialize(d)? {
            Repr::Flat(v) => Ok(Values::scalars(v)),
            Repr::Rows(rows) => {
                let width = rows.first().map_or(1, Vec::len);
                if rows.iter().any(|r| r.len() != width) {
                    return Err(D::Error::custom("rows of a value table must have equal lengths"));
                }
                Ok(Values::rows_of(rows.concat(), width))
            }
        }
    }
}
