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
    out["values"] = {t: [a[2] for a in sorted(eaf.get_annotation_data_for_tier(t))] for t in eaf.get_tier_names()}
    # ELAN keeps a tier's annotations apart: (end of one > start of the next) counted per tier.
    out["overlaps"] = {}
    for t in eaf.get_tier_names():
        spans = sorted((a[0], a[1]) for a in eaf.get_annotation_data_for_tier(t))
        out["overlaps"][t] = sum(1 for a, b in zip(spans, spans[1:]) if a[1] > b[0])
    root = ET.parse(path).getroot()
    times = [int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")]
    out["slots_in_time_order"] = times == sorted(times)
    media = root.find("HEADER/MEDIA_DESCRIPTOR")
    out["media"] = None if media is None else {k: media.get(k) for k in ("MEDIA_URL", "RELATIVE_MEDIA_URL")}
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
elif fmt == "svl":
    # Sonic Visualiser's rules (svapp SVFileReader::readModel and readLayer): a sparse model's
    # class follows its dimensions and subtype, and a layer shows a model only of the class it
    # takes; an XML parser normalises raw tabs and line ends in attributes to spaces, as SV's
    # does.
    def model_class(m):
        dims, subtype = m.get("dimensions"), m.get("subtype", "")
        if m.get("type") != "sparse":
            return m.get("type")
        if dims == "1":
            return "SparseOneDimensionalModel"
        if dims == "2":
            return "TextModel" if subtype == "text" else "SparseTimeValueModel"
        if dims == "3":
            return {"region": "RegionModel", "flexinote": "FlexiNoteModel"}.get(subtype, "NoteModel")
        return None

    takes = {
        "timeinstants": "SparseOneDimensionalModel",
        "timevalues": "SparseTimeValueModel",
        "regions": "RegionModel",
        "notes": "NoteModel",
        "text": "TextModel",
    }
    root = ET.parse(path).getroot()
    models = {m.get("id"): m for m in root.iter("model")}
    datasets = {d.get("id"): d for d in root.iter("dataset")}
    out["layers"] = {}
    for layer in root.iter("layer"):
        model = models[layer.get("model")]
        points = datasets[model.get("dataset")].findall("point")
        shown = takes.get(layer.get("type")) == model_class(model)
        out["layers"][layer.get("name")] = {
            "type": layer.get("type"),
            "model": model_class(model),
            "units": model.get("units"),
            "points": len(points) if shown else 0,
            "labels": [p.get("label") for p in points] if shown else [],
        }
elif fmt == "praat":
    # Praat itself, headless: each tier's class, name and labelled intervals or points.
    import subprocess
    import tempfile

    script = """form Read
  sentence path
endform
Read from file: path$
n = Get number of tiers
writeInfoLine: n
for t from 1 to n
  name$ = Get tier name: t
  intervals = Is interval tier: t
  if intervals
    k = Get number of intervals: t
    labelled = 0
    for i from 1 to k
      label$ = Get label of interval: t, i
      if label$ <> ""
        labelled += 1
      endif
    endfor
    appendInfoLine: "IntervalTier", tab$, name$, tab$, labelled
  else
    k = Get number of points: t
    appendInfoLine: "TextTier", tab$, name$, tab$, k
  endif
endfor
"""
    with tempfile.NamedTemporaryFile("w", suffix=".praat", delete=False) as f:
        f.write(script)
    run = subprocess.run(["praat", "--run", f.name, path], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"praat: {run.stderr}")
    lines = run.stdout.strip().splitlines()
    out["tiers"] = [dict(zip(("class", "name", "count"), l.split("\t"))) for l in lines[1:]]
    for t in out["tiers"]:
        t["count"] = int(t["count"])
elif fmt.startswith("timeside/"):
    # TimeSide's own readers (a strict model of them): `timeside/xml`, `timeside/hdf5`, ...
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import timeside_results

    out = timeside_results.summary(timeside_results.load(fmt.split("/", 1)[1], path))
elif fmt == "csv":
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    out["header"] = rows[0]
    out["rows"] = len(rows) - 1
else:
    sys.exit(f"no reader for {fmt}")
print(json.dumps(out))
