"""Reads a TimeSide export with the reader its users open it with, and prints what it found
as JSON: `read_export.py FORMAT PATH`. Used by tests/integration/exports.rs."""
import csv
import json
import sys
import xml.etree.ElementTree as ET

fmt, path = sys.argv[1], sys.argv[2]
out = {}
if fmt == "jams":
    import jams

    jam = jams.load(path, validate=True, strict=True)
    out["duration"] = jam.file_metadata.duration
    out["namespaces"] = {}
    for ann in jam.annotations:
        ann.validate(strict=True)
        out["namespaces"].setdefault(ann.namespace, []).append(len(ann.data))
    out["onset_times"] = [o.time for a in jam.search(namespace="onset") for o in a.data]
elif fmt == "eaf":
    import pympi

    eaf = pympi.Elan.Eaf(path)
    out["tiers"] = {t: len(eaf.get_annotation_data_for_tier(t)) for t in eaf.get_tier_names()}
    out["starts_ms"] = {t: sorted(a[0] for a in eaf.get_annotation_data_for_tier(t)) for t in eaf.get_tier_names()}
elif fmt == "textgrid":
    from praatio import textgrid

    tg = textgrid.openTextgrid(path, includeEmptyIntervals=False)
    out["tiers"] = {name: len(tg.getTier(name).entries) for name in tg.tierNames}
    out["xmax"] = tg.maxTimestamp
elif fmt == "vtt":
    import webvtt

    captions = webvtt.read(path)
    out["cues"] = len(captions)
    out["texts"] = [c.text for c in captions]
elif fmt == "hdf5":
    import h5py

    with h5py.File(path, "r") as f:
        out["groups"] = {}
        for name in f:
            g = f[name]
            data = g["data_object"]
            out["groups"][name] = {
                "data_mode": g.attrs["data_mode"],
                "time_mode": g.attrs["time_mode"],
                "id": g["id_metadata"].attrs["id"],
                "samplerate": int(g["audio_metadata"].attrs["samplerate"]),
                "value": data["value"][()].tolist() if "value" in data else None,
                "time": data["time"][()].tolist() if "time" in data else None,
            }
elif fmt == "svl":
    root = ET.parse(path).getroot()
    names = {m.get("dataset"): m.get("name") for m in root.iter("model")}
    out["points"] = {names[d.get("id")]: len(d.findall("point")) for d in root.iter("dataset")}
    out["layers"] = sorted(layer.get("type") for layer in root.iter("layer"))
elif fmt == "csv":
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    out["header"] = rows[0]
    out["rows"] = len(rows) - 1
else:
    sys.exit(f"no reader for {fmt}")
print(json.dumps(out))
