"""A small strict parser of the Prometheus text exposition format (version 0.0.4).

parse(text) -> {family name: {"type", "help", "samples": [(name, {label: value}, float)]}}
Raises ValueError naming the line for anything the format does not allow: a sample outside its
family, a family seen twice, bad names, bad escapes, unsorted or inconsistent histogram buckets.
"""

import math
import re

METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _unescape(text, lineno, quote):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ValueError("line %d: dangling backslash" % lineno)
            n = text[i + 1]
            if n == "\\":
                out.append("\\")
            elif n == "n":
                out.append("\n")
            elif n == '"' and quote:
                out.append('"')
            else:
                raise ValueError("line %d: bad escape \\%s" % (lineno, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _value(text, lineno):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError("line %d: bad value %r" % (lineno, text))
    return float(text)


def _labels(text, lineno):
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', text[i:])
        if not m:
            raise ValueError("line %d: bad label at %r" % (lineno, text[i:]))
        name = m.group(1)
        j = i + m.end()
        k = j
        while k < len(text) and text[k] != '"':
            k += 2 if text[k] == "\\" else 1
        if k >= len(text):
            raise ValueError("line %d: unterminated label value" % lineno)
        if name in labels:
            raise ValueError("line %d: label %s twice" % (lineno, name))
        labels[name] = _unescape(text[j:k], lineno, True)
        i = k + 1
        if i < len(text):
            if text[i] != ",":
                raise ValueError("line %d: expected ',' in labels" % lineno)
            i += 1
    return labels


def _family_of(sample, families, current):
    if current is None:
        return None
    t = families[current]["type"]
    if sample == current:
        return current
    if t == "histogram" and sample in (current + "_bucket", current + "_sum", current + "_count"):
        return current
    return None


def parse(text):
    if text and not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    families, current = {}, None
    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line == "":
            raise ValueError("line %d: empty line" % lineno)
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) ?(.*)", line)
            if not m:
                raise ValueError("line %d: bad comment %r" % (lineno, line))
            kind, name, rest = m.groups()
            if not METRIC.match(name):
                raise ValueError("line %d: bad metric name %r" % (lineno, name))
            if kind == "HELP":
                if name in families and name != current:
                    raise ValueError("line %d: family %s seen twice" % (lineno, name))
                families.setdefault(name, {"type": None, "help": None, "samples": []})
                if families[name]["help"] is not None:
                    raise ValueError("line %d: second HELP for %s" % (lineno, name))
                families[name]["help"] = _unescape(rest, lineno, False)
                current = name
            else:
                if rest not in TYPES:
                    raise ValueError("line %d: bad type %r" % (lineno, rest))
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if fam["type"] is not None or fam["samples"]:
                    raise ValueError("line %d: TYPE of %s twice or after samples" % (lineno, name))
                fam["type"] = rest
                current = name
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not m:
            raise ValueError("line %d: bad sample %r" % (lineno, line))
        name, labels, value = m.group(1), _labels(m.group(2) or "", lineno), _value(m.group(3), lineno)
        fam = _family_of(name, families, current)
        if fam is None:
            raise ValueError("line %d: sample %s outside its family (current %s)" % (lineno, name, current))
        if families[fam]["type"] in ("counter",) and (math.isnan(value) or value < 0):
            raise ValueError("line %d: counter %s is negative" % (lineno, name))
        if "le" in labels and not name.endswith("_bucket"):
            raise ValueError("line %d: le outside a bucket" % lineno)
        families[fam]["samples"].append((name, labels, value))
    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise ValueError("family %s lacks TYPE or HELP" % name)
        if fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return families


def _check_histogram(name, samples):
    series = {}
    for sample, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample.endswith("_bucket"):
            if "le" not in labels:
                raise ValueError("%s: bucket without le" % name)
            s["buckets"].append((_value(labels["le"], 0), value))
        elif sample.endswith("_sum"):
            s["sum"] = value
        elif sample.endswith("_count"):
            s["count"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        if not les or les[-1] != math.inf or les != sorted(les):
            raise ValueError("%s%r: buckets must ascend and end with +Inf" % (name, key))
        if counts != sorted(counts):
            raise ValueError("%s%r: bucket counts must be cumulative" % (name, key))
        if s["count"] is None or s["sum"] is None or s["count"] != counts[-1]:
            raise ValueError("%s%r: _count must equal the +Inf bucket, _sum present" % (name, key))


def value(families, name, **labels):
    """The value of the sample `name` whose labels include `labels` (None when absent)."""
    for fam in families.values():
        for sample, ls, v in fam["samples"]:
            if sample == name and all(ls.get(k) == str(x) for k, x in labels.items()):
                return v
    return None
