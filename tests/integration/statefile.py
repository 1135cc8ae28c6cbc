"""Read a lockwatchd state directory (state.snapshot with state.log replayed over it, or
the state.json of the version before) as the one JSON document state.json used to be, so
tests can look into a running daemon's state. The format is docs/state.md; the daemon's own
reader is state_replay() in daemon/state.c, which this follows record by record.

A frame cut short at the log's end is dropped, as the daemon drops it; any other damage
raises ValueError."""

import json
import math
import os
import struct

MAGIC = b"lockwatch-state"
HEADER, SHAPE, SOURCE, EVIDENCE, FORGET, ENGINE, HISTORY, END, RULES, SEEN = range(1, 11)
HKINDS = ["number", "duration", "string", "bool", "list", "provider-set", "cell-state",
          "provider-kind", "source-state"]
CELL_STATES = ["unknown", "available", "unavailable"]
KINDS = ["cloud", "direct", "aggregator"]
SAID = ["unknown", "available", "unavailable"]
LIFECYCLES = ["unknown", "active", "preview", "legacy", "deprecated", "retired"]
STATUSES = ["new", "ok", "degraded", "suspect"]


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u8(self):
        if self.pos >= len(self.data):
            raise ValueError("record ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def uint(self):
        v, shift = 0, 0
        while True:
            b = self.u8()
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise ValueError("integer too long")

    def double(self):
        if self.pos + 8 > len(self.data):
            raise ValueError("record ends early")
        v = struct.unpack_from("<d", self.data, self.pos)[0]
        self.pos += 8
        return v

    def text(self):
        n = self.uint()
        if n == 0:
            return None
        end = self.pos + n - 1
        if end > len(self.data):
            raise ValueError("text runs past its record")
        s = self.data[self.pos:end].decode("utf-8")
        self.pos = end
        return s

    def done(self):
        if self.pos != len(self.data):
            raise ValueError("bytes left in a record")


def frames(data, is_log):
    """The payloads of the whole frames of a file; a log's torn tail ends it."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            if is_log:
                return
            raise ValueError("a frame cut short at %d" % pos)
        n, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8:pos + 8 + n]
        if n == 0 or len(payload) < n or crc32c(payload) != crc:
            rest = data[pos:]
            torn = len(payload) < n or pos + 8 + n == len(data) or not any(rest)
            if is_log and torn:
                return
            raise ValueError("a damaged frame at %d" % pos)
        yield payload
        pos += 8 + n


def records(payload):
    pos = 0
    while pos < len(payload):
        n = struct.unpack_from("<I", payload, pos)[0]
        rec = payload[pos + 4:pos + 4 + n]
        if n == 0 or len(rec) < n:
            raise ValueError("a record runs past its frame")
        yield rec
        pos += 4 + n


class _State:
    def __init__(self):
        self.sources = {}
        self.providers = {}  # id -> kind
        self.models = {}  # id -> {"mapped": bool, "cells": {provider: [evidence]}}
        self.engine = None
        self.history = []
        self.generation = None

    def row(self, model, mapped):
        m = self.models.setdefault(model, {"mapped": False, "cells": {}})
        m["mapped"] = m["mapped"] or bool(mapped)
        return m

    def replace(self, source, entries):
        by_cell = {(e[0], e[1]): e[2] for e in entries}
        for mid, m in self.models.items():
            for pid in list(m["cells"]):
                ev = m["cells"][pid]
                if (mid, pid) not in by_cell:
                    ev[:] = [x for x in ev if x["source"] != source]
                    if not ev:
                        del m["cells"][pid]
        for (mid, pid), e in by_cell.items():
            ev = self.models[mid]["cells"].setdefault(pid, [])
            for i, x in enumerate(ev):
                if x["source"] == source:
                    ev[i] = e
                    break
            else:
                ev.append(e)

    def document(self):
        order = sorted(self.providers, key=lambda p: (KINDS.index(self.providers[p]),
                                                      p.encode("utf-8")))
        index = {p: i for i, p in enumerate(order)}
        models = []
        for mid in sorted(self.models, key=lambda m: m.encode("utf-8")):
            m = self.models[mid]
            cells = [{"provider": index[p], "evidence": m["cells"][p]}
                     for p in sorted(m["cells"], key=lambda p: index[p])]
            models.append({"id": mid, "mapped": m["mapped"], "cells": cells})
        return {"version": 1, "sources": self.sources,
                "matrix": {"format": "lockwatch.matrix-state/1",
                           "providers": [{"id": p, "kind": self.providers[p]} for p in order],
                           "models": models},
                "alerts": self.engine, "history": self.history}


def _evidence(r, source):
    model, mapped, provider, kind = r.text(), r.u8(), r.text(), r.uint()
    e = {"source": source}
    raw_id = r.text()
    said, lifecycle, later = r.uint(), r.uint(), r.uint()
    pin, pout = r.double(), r.double()
    e.update({"said": SAID[said], "raw_id": raw_id})
    eol, first, last, changed, missing = r.uint(), r.uint(), r.uint(), r.uint(), r.uint()
    regions = [r.text() for _ in range(r.uint())]
    e.update({"regions": regions,
              "price_in": None if math.isnan(pin) else pin,
              "price_out": None if math.isnan(pout) else pout,
              "lifecycle": LIFECYCLES[lifecycle], "eol": eol, "first_seen": first,
              "last_seen": last, "changed": changed, "missing": missing})
    if later:
        e["later"] = True
    return model, mapped, provider, KINDS[kind], e


def _apply(st, rec, snapshot, first):
    r = _Reader(rec)
    t = r.u8()
    if first != (t == HEADER):
        raise ValueError("the header is not the first record")
    if t == HEADER:
        if r.text() != MAGIC.decode() or r.uint() != 1:
            raise ValueError("not a lockwatch state file of version 1")
        st.generation = r.uint()
    elif t == SHAPE:
        for _ in range(r.uint()):
            pid, kind = r.text(), r.u8()
            st.providers[pid] = KINDS[kind]
        for _ in range(r.uint()):
            mid, mapped = r.text(), r.uint()
            st.row(mid, mapped)
    elif t == SOURCE:
        name = r.text()
        status = r.u8()
        last_result, last_error, etag, last_modified = r.text(), r.text(), r.text(), r.text()
        flags = r.u8()
        nums = [r.uint() for _ in range(6)]
        st.sources[name] = {
            "status": STATUSES[status], "last_result": last_result, "last_error": last_error,
            "etag": etag, "last_modified": last_modified,
            "validators_parsed": bool(flags & 1), "has_previous": bool(flags & 2),
            "fingerprint": str(nums[0]), "last_attempt": str(nums[1]),
            "last_ok": str(nums[2]), "consecutive_failures": str(nums[3]),
            "polls": str(nums[4]), "unmapped": str(nums[5])}
    elif t == EVIDENCE:
        source = r.text()
        entries = []
        for _ in range(r.uint()):
            model, mapped, provider, kind, e = _evidence(r, source)
            st.providers.setdefault(provider, kind)
            st.row(model, mapped)
            entries.append((model, provider, e))
        st.replace(source, entries)
    elif t == FORGET:
        source = r.text()
        st.replace(source, [])
        st.sources.pop(source, None)
    elif t == ENGINE:
        st.engine = json.loads(r.text())
    elif t == RULES:
        st.engine = _rules(r)
    elif t == SEEN:
        source, when = r.text(), r.uint()
        n = 0
        for m in st.models.values():
            for ev in m["cells"].values():
                for e in ev:
                    if e["source"] == source:
                        e["last_seen"] = when
                        n += 1
        if n == 0:
            raise ValueError("a seen record for a source without evidence")
    elif t == HISTORY:
        for _ in range(r.uint()):
            time = r.uint()
            names = ["kind", "rule", "model", "provider", "source", "state", "previous_state",
                     "message"]
            ev = {"time": str(time)}
            ev.update({k: r.text() for k in names})
            st.history.append(ev)
        del st.history[:-2000]
    elif t == END:
        r.uint()
        return
    else:
        raise ValueError("unknown record type %d" % t)
    r.done()


def _hval(r, providers):
    """One look-back value of a RULES record, shaped as rules_engine_to_json() has it."""
    tag = r.u8()
    if tag == 0:
        return None
    kind = HKINDS[tag - 1]
    flags = r.u8()
    if flags & 1 and kind not in ("number", "duration"):
        return {"kind": kind, "value": None, **({"elem": "none"} if kind == "list" else {})}
    if kind in ("number", "duration"):
        v = r.double()
        value = None if math.isnan(v) else v
    elif kind == "string":
        value = r.text()
    elif kind == "bool":
        value = bool(flags & 2)
    elif kind == "provider-set":
        value = [providers[r.uint()]["id"] for _ in range(r.uint())]
    elif kind == "list":
        elem = r.u8()
        ename = HKINDS[elem - 1] if elem else "none"
        value = [r.text() if ename == "string" else r.double() for _ in range(r.uint())]
        return {"kind": kind, "value": value, "elem": ename}
    else:
        w = r.uint()
        names = {"cell-state": CELL_STATES, "provider-kind": KINDS, "source-state": STATUSES}
        value = names[kind][w]
    return {"kind": kind, "value": value}


def _rules(r):
    """A RULES record (rules_engine_save()) as the JSON the ENGINE record held."""
    if r.uint() != 1:
        raise ValueError("unknown rules record version")
    alerts = json.loads(r.text())
    first = r.uint()
    providers = [{"id": r.text(), "kind": KINDS[r.u8()]} for _ in range(r.uint())]
    sources = [{"name": r.text(), "first_seen": str(r.uint())} for _ in range(r.uint())]
    rules = [(r.text(), r.uint()) for _ in range(r.uint())]
    models = []
    for _ in range(r.uint()):
        m = {"id": r.text()}
        if r.u8():
            m["clouds"] = [providers[r.uint()]["id"] for _ in range(r.uint())]
        m["history"] = {name: [_hval(r, providers) for _ in range(n)] for name, n in rules}
        models.append(m)
    return {"version": 1, "alerts": alerts, "providers": providers, "sources": sources,
            "models": models, "first_evaluation": str(first)}


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_state(state_dir):
    """The state in state_dir as a state.json document, or None if there is none."""
    snap_path = os.path.join(state_dir, "state.snapshot")
    for _ in range(20):
        try:
            before = os.stat(snap_path)
        except FileNotFoundError:
            legacy = _read(os.path.join(state_dir, "state.json"))
            return None if legacy is None else json.loads(legacy.decode("utf-8"))
        snap = _read(snap_path)
        log = _read(os.path.join(state_dir, "state.log"))
        try:
            after = os.stat(snap_path)
        except FileNotFoundError:
            continue
        # A compaction between the two reads: the log may belong to the new snapshot.
        if snap is None or (before.st_ino, before.st_mtime_ns) != (after.st_ino, after.st_mtime_ns):
            continue
        st = _State()
        first = True
        for payload in frames(snap, False):
            for rec in records(payload):
                _apply(st, rec, True, first)
                first = False
        gen = st.generation
        if log:
            log_frames = list(frames(log, True))
            head = _State()
            if log_frames:
                _apply(head, next(records(log_frames[0])), False, True)
            if head.generation == gen:
                first = True
                for payload in log_frames:
                    for rec in records(payload):
                        _apply(st, rec, False, first)
                        first = False
        return st.document()
    raise ValueError("the snapshot kept changing while being read")
