"""Validates a IIIF Presentation 3 document with the iiif-prezi3 models (IIIF's own Python
library, generated from the specification's JSON Schema) and prints what it read as JSON:
`read_iiif.py manifest|collection|annotations PATH`. Used by tests/integration/collections.rs."""
import json
import sys

from iiif_prezi3 import AnnotationPage, Collection, Manifest

kind, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    data = json.load(f)


def listed(value):
    """A list the models may wrap in a root model."""
    value = getattr(value, "root", value)
    return list(value or [])


model = {"manifest": Manifest, "collection": Collection, "annotations": AnnotationPage}[kind]
parsed = model(**data)
out = {"type": parsed.type, "id": str(parsed.id)}
if kind == "manifest":
    canvas = listed(parsed.items)[0]
    painting = listed(listed(canvas.items)[0].items)[0]
    out["duration"] = canvas.duration
    out["body"] = {"id": str(painting.body.id), "type": painting.body.type, "format": painting.body.format}
    out["motivation"] = painting.motivation
    out["pages"] = [str(p.id) for p in listed(canvas.annotations)]
    out["see_also"] = [str(s.id) for s in listed(parsed.seeAlso)]
    out["ranges"] = [len(listed(r.items)) for r in listed(parsed.structures)]
elif kind == "collection":
    out["items"] = [{"id": str(i.id), "type": i.type} for i in listed(parsed.items)]
else:
    out["items"] = len(listed(parsed.items))
print(json.dumps(out, default=str))
