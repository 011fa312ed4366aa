#!/usr/bin/env python3
"""Checks an `aws iot create-ota-update --cli-input-json` document against
the AWS CLI's own service model (botocore's iot service-2.json), as the
independent peer of `signet sign --ota-update`: the CreateOTAUpdate input
shape's required members, no unknown members, string lengths and patterns,
enums, list and integer bounds, and blobs as the base64 text AWS CLI v2
takes with its default --cli-binary-format base64.

  ota_update_check.py FILE          exit 0 valid, 1 invalid (one line per finding)
  ota_update_check.py --shape NAME  prints the shape as JSON (the model's own words)

The model comes from Debian's python3-botocore
(/usr/lib/python3/dist-packages/botocore/data/iot/*/service-2.json[.gz]),
else from whichever botocore this python imports.
"""
import base64
import binascii
import glob
import gzip
import json
import os
import re
import sys
import unicodedata


def load_model():
    paths = sorted(glob.glob("/usr/lib/python3/dist-packages/botocore/data/iot/*/service-2.json*"))
    if not paths:
        try:
            import botocore  # noqa: F401  (only its data directory is used)
            base = os.path.join(os.path.dirname(botocore.__file__), "data", "iot")
            paths = sorted(glob.glob(os.path.join(base, "*", "service-2.json*")))
        except ImportError:
            pass
    if not paths:
        sys.exit("ota_update_check: no botocore iot model (apt-get install python3-botocore)")
    raw = open(paths[-1], "rb").read()
    if paths[-1].endswith(".gz"):
        raw = gzip.decompress(raw)
    return json.loads(raw)


def pattern_ok(pattern, value):
    # The model's patterns are Java regexes over the whole value; \p{C} (control,
    # format, unassigned...) has no Python re spelling, so it is checked by category.
    if pattern == "[^\\p{C}]+":
        return len(value) > 0 and not any(unicodedata.category(ch).startswith("C") for ch in value)
    return re.fullmatch(pattern, value) is not None


def check(shapes, name, value, path, out):
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object ({name})")
            return
        for req in shape.get("required", []):
            if req not in value:
                out.append(f"{path}.{req}: required by {name}, missing")
        for key, member in value.items():
            if key not in shape["members"]:
                out.append(f"{path}.{key}: not a member of {name}")
                continue
            check(shapes, shape["members"][key]["shape"], member, f"{path}.{key}", out)
    elif kind == "list":
        if not isinstance(value, list):
            out.append(f"{path}: expected a list ({name})")
            return
        if len(value) < shape.get("min", 0) or len(value) > shape.get("max", 1 << 30):
            out.append(f"{path}: {len(value)} items, {name} allows {shape.get('min', 0)}..{shape.get('max', 'any')}")
        for i, item in enumerate(value):
            check(shapes, shape["member"]["shape"], item, f"{path}[{i}]", out)
    elif kind == "map":
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object ({name})")
            return
        for k, v in value.items():
            check(shapes, shape["key"]["shape"], k, f"{path} key {k!r}", out)
            check(shapes, shape["value"]["shape"], v, f"{path}.{k}", out)
    elif kind == "string":
        if not isinstance(value, str):
            out.append(f"{path}: expected a string ({name})")
            return
        if len(value) < shape.get("min", 0) or len(value) > shape.get("max", 1 << 30):
            out.append(f"{path}: {len(value)} characters, {name} allows {shape.get('min', 0)}..{shape.get('max', 'any')}")
        if "pattern" in shape and not pattern_ok(shape["pattern"], value):
            out.append(f"{path}: {value!r} does not match {name}'s pattern {shape['pattern']}")
        if "enum" in shape and value not in shape["enum"]:
            out.append(f"{path}: {value!r} is not one of {shape['enum']} ({name})")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: expected an integer ({name})")
        elif value < shape.get("min", -(1 << 63)) or value > shape.get("max", 1 << 63):
            out.append(f"{path}: {value} outside {shape.get('min')}..{shape.get('max')} ({name})")
    elif kind == "blob":
        try:
            if not isinstance(value, str) or not value:
                raise ValueError
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            out.append(f"{path}: not base64 text, as AWS CLI v2 takes a blob ({name})")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: expected true or false ({name})")


def main():
    model = load_model()
    shapes = model["shapes"]
    if len(sys.argv) == 3 and sys.argv[1] == "--shape":
        print(json.dumps({k: v for k, v in shapes[sys.argv[2]].items() if k != "documentation"}))
        return 0
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        doc = json.load(open(sys.argv[1]))
    except (OSError, ValueError) as e:
        print(f"{sys.argv[1]}: {e}")
        return 1
    findings = []
    check(shapes, model["operations"]["CreateOTAUpdate"]["input"]["shape"], doc, "$", findings)
    for f in findings:
        print(f"{sys.argv[1]}: {f}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
