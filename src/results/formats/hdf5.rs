//! HDF5, in TimeSide's layout (`../shared/REFERENCE.md` §3), through Debian's libhdf5: one
//! group per result, named by its id, with attributes `data_mode` and `time_mode` and
//! sub-groups `id_metadata`, `audio_metadata` (attributes), `parameters` (attribute `json`:
//! parameters are nested JSON, which attributes cannot hold), `data_object` (datasets `value`
//! (2-D: rows × columns), `label`, `time`, `duration`; sub-group `frame_metadata`) and
//! `label_metadata` (datasets `codes`, `names`, `descriptions`; attribute `label_type`).
//! An `index` attribute keeps the results' order (HDF5 lists groups by name); a second result
//! with an id already used is named `id#2`.
//!
//! h5py reads it: `f['level']['data_object']['value'][()]`.

use super::{Format, FormatError, invalid, mode_name, mode_of};
use crate::results::{
    AnalyzerResult, AudioMetadata, DataMode, DataObject, FrameMetadata, IdMetadata, LabelMetadata, TimeMode, Values,
};
use hdf5::types::VarLenUnicode;
use std::collections::BTreeMap;
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

fn get_str(loc: &hdf5::Location, name: &str) -> Result<String, FormatError> {
    let v: VarLenUnicode = loc.attr(name).and_then(|a| a.read_scalar()).map_err(|e| err(format!("{name}: {e}")))?;
    Ok(v.as_str().to_string())
}

fn get_num<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str) -> Result<T, FormatError> {
    loc.attr(name).and_then(|a| a.read_scalar()).map_err(|e| err(format!("{name}: {e}")))
}

fn dataset<T: hdf5::H5Type>(group: &hdf5::Group, name: &str, data: &[T]) -> Result<(), FormatError> {
    group.new_dataset_builder().with_data(data).create(name).map_err(err)?;
    Ok(())
}

fn strings(values: impl Iterator<Item = String>) -> Result<Vec<VarLenUnicode>, FormatError> {
    values.map(|s| s.parse::<VarLenUnicode>().map_err(err)).collect()
}

pub fn write(results: &[AnalyzerResult], path: &Path) -> Result<(), FormatError> {
    let file = hdf5::File::create(path).map_err(err)?;
    let mut used = std::collections::HashSet::new();
    for (index, r) in results.iter().enumerate() {
        let mut name = r.id_metadata.id.replace('/', "_");
        let mut n = 1;
        while !used.insert(name.clone()) {
            n += 1;
            name = format!("{}#{n}", r.id_metadata.id.replace('/', "_"));
        }
        let g = file.create_group(&name).map_err(err)?;
        set_num(&g, "index", index as u64)?;
        set_str(&g, "data_mode", &mode_name(&r.data_mode))?;
        set_str(&g, "time_mode", &mode_name(&r.time_mode))?;
        let id = g.create_group("id_metadata").map_err(err)?;
        for (k, v) in r.id_metadata.fields() {
            set_str(&id, k, v)?;
        }
        let audio = g.create_group("audio_metadata").map_err(err)?;
        let a = &r.audio_metadata;
        set_str(&audio, "uri", &a.uri)?;
        set_num(&audio, "start", a.start)?;
        set_num(&audio, "duration", a.duration)?;
        set_num(&audio, "is_segment", u8::from(a.is_segment))?;
        if let Some(sha) = &a.sha256 {
            set_str(&audio, "sha256", sha)?;
        }
        set_num(&audio, "channels", a.channels)?;
        set_num(&audio, "samplerate", a.samplerate)?;
        set_str(&audio, "channelsManagement", &a.channels_management)?;
        let params = g.create_group("parameters").map_err(err)?;
        set_str(&params, "json", &r.parameters.to_string())?;
        let data = g.create_group("data_object").map_err(err)?;
        let d = &r.data_object;
        if let Some(v) = &d.value {
            let table = ndarray::ArrayView2::from_shape((v.rows(), v.width()), v.as_flat()).map_err(err)?;
            data.new_dataset_builder().with_data(table).create("value").map_err(err)?;
        }
        if let Some(l) = &d.label {
            dataset(&data, "label", l)?;
        }
        if let Some(t) = &d.time {
            dataset(&data, "time", t)?;
        }
        if let Some(t) = &d.duration {
            dataset(&data, "duration", t)?;
        }
        if let Some(f) = &r.frame_metadata {
            let fm = data.create_group("frame_metadata").map_err(err)?;
            set_num(&fm, "samplerate", f.samplerate)?;
            set_num(&fm, "blocksize", f.blocksize as u64)?;
            set_num(&fm, "stepsize", f.stepsize as u64)?;
        }
        if let Some(lm) = &r.label_metadata {
            let lg = g.create_group("label_metadata").map_err(err)?;
            set_str(&lg, "label_type", &lm.label_type)?;
            let codes: Vec<i64> = lm.label.keys().copied().collect();
            dataset(&lg, "codes", &codes)?;
            dataset(&lg, "names", &strings(lm.label.values().cloned())?)?;
            let described: Vec<i64> = lm.description.keys().copied().collect();
            dataset(&lg, "description_codes", &described)?;
            dataset(&lg, "descriptions", &strings(lm.description.values().cloned())?)?;
        }
    }
    file.close().map_err(err)
}

fn read_vec<T: hdf5::H5Type>(g: &hdf5::Group, name: &str) -> Result<Option<Vec<T>>, FormatError> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    g.dataset(name).and_then(|d| d.read_raw::<T>()).map(Some).map_err(|e| err(format!("{name}: {e}")))
}

fn read_strings(g: &hdf5::Group, name: &str) -> Result<Vec<String>, FormatError> {
    Ok(read_vec::<VarLenUnicode>(g, name)?.unwrap_or_default().iter().map(|s| s.as_str().to_string()).collect())
}

fn read_one(g: &hdf5::Group) -> Result<(u64, AnalyzerResult), FormatError> {
    let sub = |name: &str| g.group(name).map_err(|e| err(format!("{}: {name}: {e}", g.name())));
    let id = sub("id_metadata")?;
    let id_metadata = IdMetadata::from_fields(|name| get_str(&id, name))?;
    let a = sub("audio_metadata")?;
    let audio_metadata = AudioMetadata {
        uri: get_str(&a, "uri")?,
        start: get_num(&a, "start")?,
        duration: get_num(&a, "duration")?,
        is_segment: get_num::<u8>(&a, "is_segment")? != 0,
        sha256: if a.attr_names().map_err(err)?.iter().any(|n| n == "sha256") {
            Some(get_str(&a, "sha256")?)
        } else {
            None
        },
        channels: get_num(&a, "channels")?,
        samplerate: get_num(&a, "samplerate")?,
        channels_management: get_str(&a, "channelsManagement")?,
    };
    let params = sub("parameters")?;
    let parameters = serde_json::from_str(&get_str(&params, "json")?).map_err(err)?;
    let d = sub("data_object")?;
    let value = if d.link_exists("value") {
        let ds = d.dataset("value").map_err(err)?;
        let shape = ds.shape();
        let flat = ds.read_raw::<f32>().map_err(err)?;
        let width = shape.get(1).copied().unwrap_or(1);
        Some(if shape.len() == 2 && width != 1 { Values::rows_of(flat, width) } else { Values::scalars(flat) })
    } else {
        None
    };
    let data_object = DataObject {
        value,
        label: read_vec(&d, "label")?,
        time: read_vec(&d, "time")?,
        duration: read_vec(&d, "duration")?,
    };
    let frame_metadata = if d.link_exists("frame_metadata") {
        let f = d.group("frame_metadata").map_err(err)?;
        Some(FrameMetadata {
            samplerate: get_num(&f, "samplerate")?,
            blocksize: get_num::<u64>(&f, "blocksize")? as usize,
            stepsize: get_num::<u64>(&f, "stepsize")? as usize,
        })
    } else {
        None
    };
    let label_metadata = if g.link_exists("label_metadata") {
        let l = g.group("label_metadata").map_err(err)?;
        let codes: Vec<i64> = read_vec(&l, "codes")?.unwrap_or_default();
        let described: Vec<i64> = read_vec(&l, "description_codes")?.unwrap_or_default();
        Some(LabelMetadata {
            label: codes.into_iter().zip(read_strings(&l, "names")?).collect::<BTreeMap<_, _>>(),
            description: described.into_iter().zip(read_strings(&l, "descriptions")?).collect(),
            label_type: get_str(&l, "label_type")?,
        })
    } else {
        None
    };
    let result = AnalyzerResult {
        id_metadata,
        data_mode: mode_of::<DataMode>(Format::Hdf5, &get_str(g, "data_mode")?)?,
        time_mode: mode_of::<TimeMode>(Format::Hdf5, &get_str(g, "time_mode")?)?,
        data_object,
        audio_metadata,
        frame_metadata,
        label_metadata,
        parameters,
    };
    result.check_shape().map_err(|e| err(format!("{}: {e}", g.name())))?;
    Ok((get_num(g, "index")?, result))
}

pub fn read(path: &Path) -> Result<Vec<AnalyzerResult>, FormatError> {
    let file = hdf5::File::open(path).map_err(err)?;
    let mut results = file.groups().map_err(err)?.iter().map(read_one).collect::<Result<Vec<_>, _>>()?;
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}
