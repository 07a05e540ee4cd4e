//! HDF5 in TimeSide's layout (`AnalyzerResultContainer.to_hdf5`/`from_hdf5`), through Debian's
//! libhdf5: one group per result, named by its id, with attributes `data_mode` and
//! `time_mode`, and sub-groups
//! - `id_metadata`, `audio_metadata`, `parameters`: one attribute per field;
//! - `data_object`: datasets `value` (1-D, or rows × columns), `label`, `time`, `duration` as
//!   the shape calls for, and sub-groups `frame_metadata` (attributes) and `label_metadata`
//!   (attribute `label_type`, sub-groups `label` and `description` with one attribute per code).
//!
//! Our fields TimeSide's model lacks are attributes of the result's group, which its reader
//! ignores: `index` (the results' order: HDF5 lists groups by name), `res_uuid`, `samplerate`,
//! `sha256`, and `parameters` as JSON (the `parameters` group holds each top-level parameter as
//! TimeSide does; a nested one is its JSON text there).
//!
//! h5py reads it: `f['level']['data_object']['value'][()]`.

use super::timeside::{Document, Extras, join, split};
use super::{Format, FormatError, invalid, mode_name};
use crate::results::{AnalyzerResult, Values};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use serde_json::Value;
use std::path::Path;

fn err(e: impl std::fmt::Display) -> FormatError {
    invalid(Format::Hdf5, e.to_string())
}

fn set_str(loc: &hdf5::Location, name: &str, value: &str) -> Result<(), FormatError> {
    let v: VarLenUnicode = value.parse().map_err(err)?;
    loc.new_attr::<VarLenUnicode>().create(name).map_err(err)?.write_scalar(&v).map_err(err)
}

fn set_num<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str, value: T) -> Result<(), FormatError> {
    loc.new_attr::<T>().create(name).map_err(err)?.write_scalar(&value).map_err(err)
}

/// A JSON value as TimeSide's attribute: strings, numbers and booleans as themselves, lists of
/// numbers as arrays; anything else (null is skipped, as TimeSide skips `None`) as JSON text.
fn set_value(loc: &hdf5::Location, name: &str, value: &Value) -> Result<(), FormatError> {
    let numbers: Option<Vec<f64>> = value.as_array().and_then(|l| l.iter().map(Value::as_f64).collect());
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => set_num(loc, name, *b),
        Value::String(s) => set_str(loc, name, s),
        Value::Number(n) if n.is_i64() => set_num(loc, name, n.as_i64().unwrap_or_default()),
        Value::Number(n) => set_num(loc, name, n.as_f64().unwrap_or_default()),
        Value::Array(_) if numbers.as_ref().is_some_and(|l| !l.is_empty()) => {
            let list = numbers.unwrap_or_default();
            loc.new_attr_builder().with_data(&list).create(name).map_err(err).map(|_| ())
        }
        other => set_str(loc, name, &other.to_string()),
    }
}

fn dataset<T: hdf5::H5Type>(group: &hdf5::Group, name: &str, data: &[T]) -> Result<(), FormatError> {
    group.new_dataset_builder().with_data(data).create(name).map_err(err)?;
    Ok(())
}

/// A group per result, its name the result's id (ids are unique in a file; `/` cannot be in
/// a name).
fn group_name(id: &str, used: &mut std::collections::HashSet<String>) -> String {
    let base = if id.is_empty() || id == "." { "result".to_string() } else { id.replace('/', "_") };
    let (mut name, mut n) = (base.clone(), 1);
    while !used.insert(name.clone()) {
        n += 1;
        name = format!("{base}#{n}");
    }
    name
}

fn write_one(g: &hdf5::Group, index: usize, doc: &Document, extras: &Extras) -> Result<(), FormatError> {
    set_str(g, "data_mode", &mode_name(&doc.data_mode))?;
    set_str(g, "time_mode", &mode_name(&doc.time_mode))?;
    set_num(g, "index", index as u64)?;
    set_str(g, "res_uuid", &extras.res_uuid)?;
    set_num(g, "samplerate", extras.samplerate)?;
    if let Some(sha) = &extras.sha256 {
        set_str(g, "sha256", sha)?;
    }
    set_str(g, "parameters", &doc.parameters.to_string())?;
    for (section, value) in [
        ("id_metadata", serde_json::to_value(&doc.id_metadata).map_err(err)?),
        ("audio_metadata", serde_json::to_value(&doc.audio_metadata).map_err(err)?),
        ("parameters", doc.parameters.clone()),
    ] {
        let sub = g.create_group(section).map_err(err)?;
        for (k, v) in value.as_object().into_iter().flatten() {
            set_value(&sub, k, v)?;
        }
    }
    let data = g.create_group("data_object").map_err(err)?;
    let d = &doc.data_object;
    if let Some(v) = &d.value {
        if v.width() == 1 {
            dataset(&data, "value", v.as_flat())?;
        } else {
            let table = ndarray::ArrayView2::from_shape((v.rows(), v.width()), v.as_flat()).map_err(err)?;
            data.new_dataset_builder().with_data(table).create("value").map_err(err)?;
        }
    }
    if let Some(l) = &d.label {
        dataset(&data, "label", l)?;
    }
    for (name, list) in [("time", &d.time), ("duration", &d.duration)] {
        if let Some(list) = list {
            dataset(&data, name, list)?;
        }
    }
    if let Some(f) = &d.frame_metadata {
        let fm = data.create_group("frame_metadata").map_err(err)?;
        set_num(&fm, "samplerate", f.samplerate)?;
        set_num(&fm, "blocksize", f.blocksize as u64)?;
        set_num(&fm, "stepsize", f.stepsize as u64)?;
    }
    if let Some(lm) = &d.label_metadata {
        let lg = data.create_group("label_metadata").map_err(err)?;
        set_str(&lg, "label_type", &lm.label_type)?;
        for (name, map) in [("label", &lm.label), ("description", &lm.description)] {
            let sub = lg.create_group(name).map_err(err)?;
            for (code, text) in map {
                set_str(&sub, code, text)?;
            }
        }
    }
    Ok(())
}

pub fn write(results: &[AnalyzerResult], path: &Path) -> Result<(), FormatError> {
    let file = hdf5::File::create(path).map_err(err)?;
    let mut used = std::collections::HashSet::new();
    for (index, r) in results.iter().enumerate() {
        let (doc, extras) = split(r);
        let g = file.create_group(&group_name(&doc.id_metadata.id, &mut used)).map_err(err)?;
        write_one(&g, index, &doc, &extras)?;
    }
    file.close().map_err(err)
}

/// An attribute as a JSON value, whichever type wrote it (ours or h5py's).
fn attr_value(a: &hdf5::Attribute) -> hdf5::Result<Value> {
    let descriptor = a.dtype()?.to_descriptor()?;
    if !a.is_scalar() {
        return Ok(a
            .read_raw::<f64>()?
            .into_iter()
            .map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
            .collect());
    }
    Ok(match descriptor {
        TypeDescriptor::VarLenUnicode => a.read_scalar::<VarLenUnicode>()?.as_str().into(),
        TypeDescriptor::VarLenAscii => a.read_scalar::<VarLenAscii>()?.as_str().into(),
        TypeDescriptor::Boolean => a.read_scalar::<bool>()?.into(),
        TypeDescriptor::Integer(_) => a.read_scalar::<i64>()?.into(),
        TypeDescriptor::Unsigned(_) => a.read_scalar::<u64>()?.into(),
        TypeDescriptor::Float(_) => {
            serde_json::Number::from_f64(a.read_scalar::<f64>()?).map_or(Value::Null, Value::Number)
        }
        other => return Err(format!("{other} attributes are not read").into()),
    })
}

/// A location's attributes as a JSON object.
fn attrs(loc: &hdf5::Group) -> Result<serde_json::Map<String, Value>, FormatError> {
    let mut map = serde_json::Map::new();
    for name in loc.attr_names().map_err(err)? {
        let value =
            loc.attr(&name).and_then(|a| attr_value(&a)).map_err(|e| err(format!("{}@{name}: {e}", loc.name())))?;
        map.insert(name, value);
    }
    Ok(map)
}

fn read_vec<T: hdf5::H5Type>(g: &hdf5::Group, name: &str) -> Result<Option<Vec<T>>, FormatError> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    g.dataset(name).and_then(|d| d.read_raw::<T>()).map(Some).map_err(|e| err(format!("{}/{name}: {e}", g.name())))
}

fn read_one(g: &hdf5::Group) -> Result<(u64, AnalyzerResult), FormatError> {
    let sub = |name: &str| g.group(name).map_err(|e| err(format!("{}: {name}: {e}", g.name())));
    let top = attrs(g)?;
    let d = sub("data_object")?;
    let value = if d.link_exists("value") {
        let ds = d.dataset("value").map_err(err)?;
        let shape = ds.shape();
        let flat = ds.read_raw::<f32>().map_err(err)?;
        Some(match shape.as_slice() {
            [_, width] => Values::rows_of(flat, *width),
            _ => Values::scalars(flat),
        })
    } else {
        None
    };
    let frame_metadata =
        if d.link_exists("frame_metadata") { Some(attrs(&d.group("frame_metadata").map_err(err)?)?) } else { None };
    let label_metadata = if d.link_exists("label_metadata") {
        let l = d.group("label_metadata").map_err(err)?;
        let mut section = attrs(&l)?;
        for name in ["label", "description"] {
            let names = if l.link_exists(name) { attrs(&l.group(name).map_err(err)?)? } else { Default::default() };
            section.insert(name.into(), Value::Object(names));
        }
        Some(section)
    } else {
        None
    };
    // Our exact parameters, else TimeSide's one attribute per parameter.
    let parameters = match top.get("parameters").and_then(Value::as_str) {
        Some(json) => serde_json::from_str(json).map_err(|e| err(format!("{}@parameters: {e}", g.name())))?,
        None if g.link_exists("parameters") => Value::Object(attrs(&sub("parameters")?)?),
        None => serde_json::json!({}),
    };
    let document = serde_json::json!({
        "data_mode": top.get("data_mode"),
        "time_mode": top.get("time_mode"),
        "id_metadata": attrs(&sub("id_metadata")?)?,
        "audio_metadata": attrs(&sub("audio_metadata")?)?,
        "data_object": { "frame_metadata": frame_metadata, "label_metadata": label_metadata },
        "parameters": parameters,
    });
    let mut doc: Document = serde_json::from_value(document).map_err(|e| err(format!("{}: {e}", g.name())))?;
    let data = &mut doc.data_object;
    data.value = value;
    data.label = read_vec(&d, "label")?;
    data.time = read_vec(&d, "time")?;
    data.duration = read_vec(&d, "duration")?;
    let text = |name: &str| top.get(name).and_then(Value::as_str).map(str::to_string);
    let extras = Extras {
        res_uuid: text("res_uuid").unwrap_or_default(),
        samplerate: top.get("samplerate").and_then(Value::as_u64).map_or(0, |s| s as u32),
        sha256: text("sha256"),
    };
    let index = top.get("index").and_then(Value::as_u64).unwrap_or(u64::MAX);
    Ok((index, join(Format::Hdf5, doc, extras)?))
}

pub fn read(path: &Path) -> Result<Vec<AnalyzerResult>, FormatError> {
    let file = hdf5::File::open(path).map_err(err)?;
    let mut results = file.groups().map_err(err)?.iter().map(read_one).collect::<Result<Vec<_>, _>>()?;
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_names_are_unique_and_valid() {
        let mut used = std::collections::HashSet::new();
        let names: Vec<String> = ["a/b", "a_b", "", "."].iter().map(|id| super::group_name(id, &mut used)).collect();
        assert_eq!(names, ["a_b", "a_b#2", "result", "result#2"]);
    }
}
