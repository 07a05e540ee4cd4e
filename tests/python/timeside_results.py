"""TimeSide 1.x's result readers, as a strict model: what `AnalyzerResultContainer.from_json`,
`from_yaml`, `from_xml` and `from_hdf5` (timeside/core/analyzer.py) accept, refuse and give
back, written from their documented behaviour (../shared/REFERENCE.md §8) because the TimeSide
package no longer installs. Each rule below names the behaviour it models.

`load(fmt, path)` returns the container: a dict keyed by result id, where a second result of
an id replaces the first (TimeSide adds with overwrite=True).
"""
import ast
import json
import xml.etree.ElementTree as ET

import numpy as np

ID_KEYS = ("id", "name", "unit", "description", "date", "version", "author", "proc_uuid")
AUDIO_KEYS = ("uri", "start", "duration", "is_segment", "sha1", "channels", "channelsManagement")
FRAME_KEYS = ("samplerate", "blocksize", "stepsize")
LABEL_KEYS = ("label", "description", "label_type")
SECTIONS = ("id_metadata", "data_object", "audio_metadata", "parameters")
# numpy types a result's value may hold (strings go through label_metadata).
VALUE_TYPES = (np.floating, np.integer, np.object_)


def data_keys(data_mode, time_mode):
    """The keys of the data object of one of the eight shapes."""
    keys = ["value", "y_value"] if data_mode == "value" else ["label", "label_metadata"]
    return keys + {"global": [], "framewise": ["frame_metadata"], "event": ["time"], "segment": ["time", "duration"]}[
        time_mode
    ]


class Metadata:
    """A metadata object: setting a key it does not have raises AttributeError."""

    def __init__(self, kind, keys, defaults=None):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_keys", tuple(keys))
        for k in keys:
            object.__setattr__(self, k, (defaults or {}).get(k))

    def __setattr__(self, key, value):
        if key not in self._keys:
            raise AttributeError(f"{key} is not a valid attribute in {self._kind}")
        object.__setattr__(self, key, value)


class DataObject(Metadata):
    """Arrays are converted on assignment: value must be numeric, label int, times float."""

    def __init__(self, data_mode, time_mode):
        keys = data_keys(data_mode, time_mode)
        super().__init__("DataObject", keys)
        for k in keys:
            if k == "frame_metadata":
                object.__setattr__(self, k, Metadata("FrameMetadata", FRAME_KEYS))
            elif k == "label_metadata":
                object.__setattr__(self, k, Metadata("LabelMetadata", LABEL_KEYS, {"label_type": "mono"}))
            else:
                object.__setattr__(self, k, np.asarray([], dtype=float))

    def __setattr__(self, key, value):
        if value is None:
            value = []
        if key == "value":
            value = np.asarray(value)
            if not issubclass(value.dtype.type, VALUE_TYPES):
                raise TypeError(f"Result Data can not accept type {value.dtype.type} for value")
            if value.shape == ():
                value = value.reshape((1,))
        elif key == "label":
            value = np.asarray(value, dtype=int)
        elif key in ("time", "duration", "y_value"):
            value = np.asarray(value, dtype=float)
        super().__setattr__(key, value)


class Result:
    def __init__(self, data_mode, time_mode):
        if (data_mode, time_mode) not in {(d, t) for d in ("value", "label") for t in ("global", "framewise", "event", "segment")}:
            raise ValueError("Wrong arguments")
        self.data_mode, self.time_mode = data_mode, time_mode
        self.id_metadata = Metadata("IdMetadata", ID_KEYS)
        self.audio_metadata = Metadata("AudioMetadata", AUDIO_KEYS, {"uri": "", "start": 0, "sha1": "", "channelsManagement": ""})
        self.parameters = {}
        self.data_object = DataObject(data_mode, time_mode)

    def section(self, key):
        """`result[key]`: any key but the four sections fails (None has no from_dict)."""
        if key not in SECTIONS:
            raise AttributeError(f"'NoneType' object has no attribute 'from_dict' (key {key!r})")
        return getattr(self, key)

    # The accessors TimeSide's users call.
    @property
    def id(self):
        return self.id_metadata.id

    @property
    def data(self):
        return self.data_object.value if self.data_mode == "value" else self.data_object.label

    def __len__(self):
        return len(self.data)

    @property
    def time(self):
        d, start = self.data_object, self.audio_metadata.start
        if self.time_mode == "global":
            return start
        if self.time_mode == "framewise":
            f = d.frame_metadata
            return np.arange(0, len(self.data) * f.stepsize, f.stepsize) / f.samplerate
        return start + d.time

    @property
    def duration(self):
        d = self.data_object
        if self.time_mode == "global":
            return self.audio_metadata.duration
        if self.time_mode == "framewise":
            f = d.frame_metadata
            return f.blocksize / f.samplerate * np.ones(len(self.data))
        if self.time_mode == "event":
            return np.zeros(len(self.data))
        return d.duration

    def label_names(self):
        """Each label's name, looked up as TimeSide does: `label[str(code)]`."""
        names = self.data_object.label_metadata.label
        return [names[str(code)] for code in self.data_object.label]


def set_fields(meta, fields):
    """`from_dict` of a metadata object: every key set, unknown keys raise; a nested metadata
    object is filled from a nested dict."""
    for key, value in fields.items():
        current = getattr(meta, key, None)
        if isinstance(current, Metadata) and isinstance(value, dict):
            set_fields(current, value)
        else:
            setattr(meta, key, value)


def set_parameters(result, params):
    """`Parameters.from_dict` reads `self[key]` of a dict that is still empty: any key raises
    KeyError. Only an empty dict loads."""
    for key in params:
        raise KeyError(key)


def from_dicts(results):
    container = {}
    for res in results:
        r = Result(res["data_mode"], res["time_mode"])
        for key, value in res.items():
            if key in ("data_mode", "time_mode"):
                continue
            section = r.section(key)
            if key == "parameters":
                set_parameters(r, value)
            else:
                set_fields(section, value)
        container[r.id] = r
    return container


def numpy_array_hook(obj):
    """TimeSide's JSON arrays may be `{"numpyArray": [...], "dtype": ...}`."""
    if isinstance(obj, dict) and "numpyArray" in obj:
        return np.asarray(obj["numpyArray"], dtype=obj["dtype"])
    return obj


def from_xml(path):
    """`root.iter('result')`; in a result, `data_mode`/`time_mode` texts, then each other child a
    section (unknown raises); a section's children with text are `ast.literal_eval`ed (data
    arrays with their `dtype` attribute); children without text are skipped. Attributes are
    never read."""
    container = {}
    for node in ET.parse(path).getroot().iter("result"):
        r = Result(node.find("data_mode").text, node.find("time_mode").text)
        for child in node:
            if child.tag in ("data_mode", "time_mode"):
                continue
            section = r.section(child.tag)
            for field in child:
                if not field.text:
                    continue
                literal = ast.literal_eval(field.text)
                if child.tag == "parameters":
                    r.parameters[field.tag] = literal
                elif child.tag == "data_object":
                    setattr(section, field.tag, np.asarray(literal, dtype=field.get("dtype")))
                else:
                    setattr(section, field.tag, literal)
        container[r.id] = r
    return container


def read_data_object(data, group):
    """Datasets are arrays (shape (0,) is empty); sub-groups are nested metadata, and
    `label_metadata` has its attribute `label_type` and sub-groups `label` and `description`."""
    import h5py

    for key, item in group.items():
        if not isinstance(item, h5py.Group):
            setattr(data, key, [] if item.shape == (0,) else item[...])
            continue
        meta = getattr(data, key)
        if key == "label_metadata":
            meta.label_type = item.attrs["label_type"]
            meta.label, meta.description = {}, {}
            for dict_name, dict_group in item.items():
                getattr(meta, dict_name).update(dict_group.attrs.items())
        else:
            set_fields(meta, dict(item.attrs.items()))


def from_hdf5(path):
    """Every top-level group a result: its `data_mode`/`time_mode` attributes (others ignored),
    each sub-group a section (unknown raises) whose attributes are its fields, but
    `data_object` (see `read_data_object`)."""
    import h5py

    container = {}
    with h5py.File(path, "r") as f:
        for group in f.values():
            r = Result(group.attrs["data_mode"], group.attrs["time_mode"])
            for name, sub in group.items():
                section = r.section(name)
                if name == "parameters":
                    r.parameters.update(sub.attrs.items())
                elif name == "data_object":
                    read_data_object(section, sub)
                else:
                    set_fields(section, dict(sub.attrs.items()))
            container[r.id] = r
    return container


def load(fmt, path):
    if fmt == "timeside-json":
        with open(path, encoding="utf-8") as f:
            return from_dicts(json.load(f, object_hook=numpy_array_hook))
    if fmt == "timeside-yaml":
        import yaml

        with open(path, encoding="utf-8") as f:
            return from_dicts(yaml.load(f, Loader=yaml.Loader))
    if fmt == "xml":
        return from_xml(path)
    if fmt == "hdf5":
        return from_hdf5(path)
    raise SystemExit(f"TimeSide has no reader for {fmt}")


def summary(container):
    """What each result's accessors give, as JSON."""

    def plain(x):
        return np.asarray(x).tolist()

    out = {}
    for rid, r in container.items():
        entry = {
            "data_mode": r.data_mode,
            "time_mode": r.time_mode,
            "len": len(r),
            "name": r.id_metadata.name,
            "unit": r.id_metadata.unit,
            "data": plain(r.data),
            "start": plain(r.audio_metadata.start),
            "parameters": {k: plain(v) for k, v in r.parameters.items()},
        }
        # XML: TimeSide's reader leaves frame and label metadata at their defaults.
        framed = r.time_mode != "framewise" or r.data_object.frame_metadata.samplerate is not None
        if framed:
            entry["time"] = plain(r.time)
            entry["duration"] = plain(r.duration)
        if r.data_mode == "label" and r.data_object.label_metadata.label is not None:
            entry["label_names"] = r.label_names()
        out[rid] = entry
    return out
