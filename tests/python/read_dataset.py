"""Reads a TimeSide dataset archive (`export.zip`) as its users would: Python's zipfile, then
each member with the reader of its format (json, csv, h5py, jams). Prints what it found as
JSON: `read_dataset.py PATH`. Used by tests/integration/collections.rs."""
import csv
import io
import json
import sys
import zipfile

import h5py
import jams

path = sys.argv[1]
out = {"files": {}}
with zipfile.ZipFile(path) as z:
    bad = z.testzip()
    out["bad_member"] = bad
    names = z.namelist()
    out["names"] = names
    root = names[0].split("/")[0]
    out["index"] = json.loads(z.read(f"{root}/index.json"))
    out["index_csv"] = list(csv.DictReader(io.TextIOWrapper(z.open(f"{root}/index.csv"), encoding="utf-8")))
    for name in names:
        rel = name[len(root) + 1 :]
        data = z.read(name)
        if rel.startswith("index."):
            continue
        if name.endswith("/results.json"):
            results = json.loads(data)
            out["files"][rel] = {r["id_metadata"]["id"]: r["data_object"].get("value") for r in results}
        elif name.endswith(".csv"):
            out["files"][rel] = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        elif name.endswith(".h5"):
            with h5py.File(io.BytesIO(data), "r") as h5:
                out["files"][rel] = sorted(h5.keys())
        elif name.endswith(".jams"):
            jam = jams.load(io.StringIO(data.decode("utf-8")), validate=True, strict=True, fmt="jams")
            out["files"][rel] = sorted({a.namespace for a in jam.annotations})
        else:
            out["files"][rel] = len(data)
print(json.dumps(out))
