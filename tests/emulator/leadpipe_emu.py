#!/usr/bin/python3
"""leadpipe_emu.py - a local stand-in for the Leadpipe Intent audiences API.

Serves /v1/intent/audiences on 127.0.0.1 (HTTP/1.1, keep-alive) for the unit
tests, the integration tests, the benchmark and the demo, plus a /_emu/
control interface to inspect requests, inject faults and change data
"elsewhere". The contract is README.md beside this file. Standard library only.
"""

import argparse
import calendar
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

API_PREFIX = "/v1/intent/audiences"
DEFAULT_KEY = "sk_test_emulator"
DEFAULT_SLOTS = 10
SEED_SLOTS = 1_000_000  # --seed without --slots: seeded data is unconstrained
ORG_ID = "0f1815d3-6edc-4e8e-87e1-4d65ef4f1d2c"
STATUSES = ("draft", "active", "paused")
MAX_BODY = 16 << 20
FIELD_ORDER = (
    "id",
    "organizationId",
    "name",
    "status",
    "accessType",
    "dailyRefreshEnabled",
    "audienceSize",
    "lastRefreshedAt",
    "createdAt",
    "updatedAt",
    "config",
)


class ApiError(Exception):
    """An answer other than success: HTTP status, error code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


# ---------------------------------------------------------------- time


def iso_from_ms(ms):
    secs, rem = divmod(int(ms), 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return "%s.%03dZ" % (base, rem)


def ms_from_iso(text):
    """Milliseconds since the epoch for an ISO 8601 UTC stamp, or None."""
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z", text)
    if not m:
        return None
    parts = [int(x) for x in m.groups()[:6]]
    frac = (m.group(7) or "0").ljust(3, "0")[:3]
    try:
        secs = calendar.timegm(tuple(parts) + (0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return secs * 1000 + int(frac)


def ms_from_date(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000


# ---------------------------------------------------------------- validation


def is_int(v):
    return type(v) is int  # bool is a subclass of int; JSON true is no integer


def check_name(v):
    if not isinstance(v, str) or not 1 <= len(v) <= 255:
        raise ApiError(400, "VALIDATION_ERROR", "name must be a string of 1 to 255 characters")


def check_status(v):
    if v not in STATUSES:
        raise ApiError(400, "VALIDATION_ERROR", "status must be one of draft, active, paused")


def check_config(cfg):
    """A config as a whole (POST, and PATCH which replaces the config)."""
    if not isinstance(cfg, dict):
        raise ApiError(400, "VALIDATION_ERROR", "config must be an object")
    if "topicIds" not in cfg:
        raise ApiError(400, "VALIDATION_ERROR", "config.topicIds is required")
    tids = cfg["topicIds"]
    if not isinstance(tids, list) or not 1 <= len(tids) <= 250 or not all(is_int(t) for t in tids):
        raise ApiError(400, "VALIDATION_ERROR", "config.topicIds must hold 1 to 250 integers")
    if "minScore" in cfg:
        v = cfg["minScore"]
        if v is not None and not (is_int(v) and 0 <= v <= 99):
            raise ApiError(400, "VALIDATION_ERROR", "config.minScore must be an integer from 0 to 99, or null")
    if "maxScore" in cfg:
        v = cfg["maxScore"]
        if not (is_int(v) and 50 <= v <= 99):
            raise ApiError(400, "VALIDATION_ERROR", "config.maxScore must be an integer from 50 to 99")
    if "minTopicOverlap" in cfg:
        v = cfg["minTopicOverlap"]
        if not (is_int(v) and 1 <= v <= 250):
            raise ApiError(400, "VALIDATION_ERROR", "config.minTopicOverlap must be an integer from 1 to 250")
    if "filters" in cfg and not isinstance(cfg["filters"], dict):
        raise ApiError(400, "VALIDATION_ERROR", "config.filters must be an object")


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def parse_json_body(raw):
    """Parsed JSON of a request body; ApiError INVALID_JSON when it is not JSON."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
        # A lone surrogate ("\ud800") parses but cannot be stored or sent back.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON") from None
    return value


def parse_json_object(raw):
    value = parse_json_body(raw)
    if not isinstance(value, dict):
        raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object")
    return value


def parse_query_int(query, key, default, lo, hi):
    if key not in query:
        return default
    text = query[key]
    if isinstance(text, list) or not re.fullmatch(r"[+-]?\d{1,12}", text):
        raise ApiError(400, "VALIDATION_ERROR", "%s must be an integer" % key)
    v = int(text)
    if v < lo or (hi is not None and v > hi):
        rng = "from %d to %d" % (lo, hi) if hi is not None else "at least %d" % lo
        raise ApiError(400, "VALIDATION_ERROR", "%s must be %s" % (key, rng))
    return v


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ordered(aud):
    """The record with the usual fields first (answers look like the docs)."""
    out = {k: aud[k] for k in FIELD_ORDER if k in aud}
    for k, v in aud.items():
        if k not in out:
            out[k] = v
    return out


def list_item(aud):
    return {k: v for k, v in ordered(aud).items() if k != "config"}


# ---------------------------------------------------------------- sample data

_TOPICS = [117805, 117890, 117918, 118002, 118044, 118131, 118207, 118356,
           118412, 118590, 118633, 118771, 118809, 118925, 119034, 119118]

_INDUSTRIES = ["software development", "financial services", "hospital & health care",
               "manufacturing", "retail", "logistics", "insurance", "higher education",
               "real estate", "marketing & advertising", "construction", "legal services"]

_SENIORITY = [["director", "vp", "c_suite"], ["vp", "c_suite"], ["manager", "director"],
              ["c_suite"], ["senior", "manager"]]

_SAMPLE_NAMES = [
    "Marketing Directors at Tech Companies",
    "CFOs in Fintech — EMEA",
    "VP Sales at Series B SaaS",
    "HR Leaders in Healthcare",
    "IT Security Buyers — North America",
    "Sales/Revenue Leaders",
    "DevOps Engineers evaluating Kubernetes",
    "Procurement Managers in Manufacturing",
    "Heads of Growth at D2C Brands",
    "Data Engineering Leads (Snowflake users)",
    ".",
    "Q3 Webinar Follow-up",
    "Insurance Brokers — UK",
    "Product Managers at AI Startups",
    "Café Owners in Zürich 🇨🇭",
    "Legal Ops in Enterprise",
    "Customer Success Leaders at PLG Companies",
    "..",
    "Real Estate Investors — Texas",
    "Founders raising Seed rounds",
    "Supply Chain Directors — APAC",
    "RevOps Managers using HubSpot",
    "Q3 Webinar Follow-up",
    "CTOs at Mid-Market Logistics",
    "Content Marketers in B2B SaaS",
    "Healthcare IT Decision Makers",
    "@LONG300",
    "E-commerce Managers on Shopify",
    "Cloud Cost Optimization Buyers",
    "Talent Acquisition at Fortune 500",
    "A∕B Testing Tool Evaluators",
    "Facilities Managers — Higher Education",
    "ABM Target Accounts — Tier 1",
    "Payroll Software Evaluators",
    "CISOs — DACH",
    "@LONGBYTES",
    "Partnership Managers in Adtech",
    "Retargeting: Pricing Page Visitors",
    "Nonprofit Development Directors",
    "Field Sales Reps in Construction",
    "Event Marketing Leads — 2026 Conferences",
    "Untitled audience",
]

# 300 characters (too long for the API to accept today: created before the rule).
_LONG300 = ("Enterprise Accounts in North America with Active Buying Signals for "
            "Marketing Automation, CRM Migration and Revenue Intelligence Platforms, "
            "Excluding Current Customers, Open Opportunities and Partners, "
            "Refreshed Daily for the Field Sales and SDR Teams in the Q4 Pipeline "
            "Acceleration Program (FY2026)")
assert len(_LONG300) == 300
# 250 characters but more than 255 bytes in UTF-8: valid for the API, too long for a file name.
_LONGBYTES = ("Geschäftsführer München · " * 10)[:250].rstrip()

# Indexes into _SAMPLE_NAMES that are active (8: two slots left for the demo).
_SAMPLE_ACTIVE = {0, 1, 2, 4, 5, 9, 14, 21}
_SAMPLE_DRAFT = {3, 7, 10, 16, 19, 22, 26, 30, 34, 36, 38, 41}


def _uuid4(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sample_config(rng, i):
    n = rng.randint(1, 4)
    tids = sorted(rng.sample(_TOPICS, n))
    cfg = {
        "topicIds": tids,
        "minScore": rng.choice([60, 65, 70, 75, 80, 85, None]),
        "maxScore": 99,
        "minTopicOverlap": rng.randint(1, n),
    }
    filters = {}
    if i % 3 != 2:
        filters["company.industries"] = {"values": rng.sample(_INDUSTRIES, rng.randint(1, 2))}
    if i % 2 == 0:
        filters["role.seniority"] = {"values": rng.choice(_SENIORITY)}
    if i % 4 == 1:
        filters["jobTitle.include"] = {
            "values": ["chief financial officer", "cfo"],
            "operator": "contains",
            "mode": "any",
        }
    if i % 5 != 4:
        filters["contact.hasBusinessEmail"] = True
    cfg["filters"] = filters
    return cfg


def make_sample(slots):
    """About 40 realistic audiences, the same on every run."""
    rng = random.Random(20260505)
    out = []
    t = ms_from_date(2026, 2, 3, 9, 15, 0)
    active = 0
    for i, name in enumerate(_SAMPLE_NAMES):
        if name == "@LONG300":
            name = _LONG300
        elif name == "@LONGBYTES":
            name = _LONGBYTES
        t += rng.randint(2, 6) * 86_400_000 + rng.randint(0, 86_399) * 1000 + rng.randint(0, 999)
        if i in _SAMPLE_ACTIVE and active < slots:
            status = "active"
            active += 1
        elif i in _SAMPLE_DRAFT:
            status = "draft"
        else:
            status = "paused"
        updated = t + rng.randint(0, 20) * 86_400_000 + rng.randint(0, 86_399_999)
        aud = {
            "id": _uuid4(rng),
            "organizationId": ORG_ID,
            "name": name,
            "status": status,
            "accessType": "free" if i % 11 == 7 else "paid",
            "dailyRefreshEnabled": status == "active" and i % 4 != 3,
            "audienceSize": 0 if status == "draft" else rng.randint(12, 4800),
        }
        if status == "active":
            aud["lastRefreshedAt"] = iso_from_ms(ms_from_date(2026, 11, 25, 4, 0, 0) + i * 61_013)
        elif status == "paused":
            aud["lastRefreshedAt"] = None if i % 3 == 0 else iso_from_ms(updated)
        elif i % 2 == 0:
            aud["lastRefreshedAt"] = None  # other drafts carry no such key at all
        aud["createdAt"] = iso_from_ms(t)
        aud["updatedAt"] = iso_from_ms(updated)
        aud["config"] = _sample_config(rng, i)
        out.append(aud)
    return out


def make_seeded(n, slots):
    """N audiences "Audience 00001".. with deterministic ids, sizes, statuses."""
    rng = random.Random(n * 7919 + 1)
    width = max(5, len(str(n)))
    base = ms_from_date(2026, 1, 1)
    out = []
    active = 0
    for i in range(1, n + 1):
        status = STATUSES[(i - 1) % 3]
        if status == "active":
            if active < slots:
                active += 1
            else:
                status = "paused"
        stamp = iso_from_ms(base + i * 60_000)
        out.append({
            "id": _uuid4(rng),
            "organizationId": ORG_ID,
            "name": "Audience %0*d" % (width, i),
            "status": status,
            "accessType": "paid",
            "dailyRefreshEnabled": status == "active",
            "audienceSize": i * 7 % 1000,
            "lastRefreshedAt": stamp if status != "draft" else None,
            "createdAt": stamp,
            "updatedAt": stamp,
            "config": {
                "topicIds": [_TOPICS[i % len(_TOPICS)]],
                "minScore": 70,
                "maxScore": 99,
                "minTopicOverlap": 1,
                "filters": {},
            },
        })
    return out


# ---------------------------------------------------------------- the store


class Store:
    """All emulator state; every access holds self.lock."""

    def __init__(self, key, slots, latency_ms, verbose=False):
        self.lock = threading.Lock()
        self.key = key
        self.slots = slots
        self.latency_ms = latency_ms
        self.list_meta = True  # the API may or may not send meta.total: test both
        self.verbose = verbose
        self.auds = {}
        self.log = []
        self.faults = []
        self.last_ms = 0
        self.id_rng = random.Random(0x1EAD91BE)
        self._order = None  # ids sorted by (createdAt, id); None when stale
        self._by_status = {}

    # -- helpers (caller holds the lock)

    def _stale(self):
        self._order = None
        self._by_status = {}

    def _now_ms(self, prev_iso=None):
        """Strictly increasing clock, and later than prev_iso, in milliseconds."""
        ms = max(int(time.time() * 1000), self.last_ms + 1)
        prev = ms_from_iso(prev_iso)
        if prev is not None and ms <= prev:
            ms = prev + 1
        else:
            self.last_ms = ms
        return ms

    def _new_id(self):
        while True:
            aid = _uuid4(self.id_rng)
            if aid not in self.auds:
                return aid

    def _sorted_ids(self, status):
        if self._order is None:
            self._order = sorted(
                self.auds, key=lambda a: (str(self.auds[a].get("createdAt") or ""), a))
        if status is None:
            return self._order
        ids = self._by_status.get(status)
        if ids is None:
            ids = [a for a in self._order if self.auds[a].get("status") == status]
            self._by_status[status] = ids
        return ids

    def _active_count(self):
        return sum(1 for a in self.auds.values() if a.get("status") == "active")

    def _get(self, aid):
        aud = self.auds.get(aid)
        if aud is None:
            raise ApiError(404, "NOT_FOUND", "Audience not found")
        return aud

    def load(self, audiences):
        self.auds = {a["id"]: a for a in audiences}
        self._stale()

    # -- API (answers are serialised under the lock: records change in place)

    def api(self, method, path, query, raw, headers):
        """(status, body bytes) for one API request."""
        with self.lock:
            try:
                if headers.get("x-api-key") != self.key:
                    raise ApiError(401, "UNAUTHORIZED", "Missing or invalid API key")
                status, obj = self._route(method, path, query, raw)
            except ApiError as e:
                status, obj = e.status, error_body(e.code, e.message)
            return status, jdump(obj)

    def _route(self, method, path, query, raw):
        rest = path[len(API_PREFIX):]
        if rest in ("", "/"):
            if method == "GET":
                return 200, self._list(query)
            if method == "POST":
                return 201, self._create(parse_json_object(raw))
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if not rest.startswith("/") or "/" in rest[1:].rstrip("/"):
            raise ApiError(404, "NOT_FOUND", "Not found")
        aid = unquote(rest[1:].rstrip("/"))
        if method == "GET":
            return 200, {"data": ordered(self._get(aid))}
        if method == "PATCH":
            aud = self._get(aid)
            return 200, self._update(aud, parse_json_object(raw))
        if method == "DELETE":
            self._get(aid)
            del self.auds[aid]
            self._stale()
            return 200, {"data": {"deleted": True}}
        raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")

    def _list(self, query):
        limit = parse_query_int(query, "limit", 50, 1, 100)
        offset = parse_query_int(query, "offset", 0, 0, None)
        status = query.get("status")
        if status is not None:
            if isinstance(status, list) or status not in STATUSES:
                raise ApiError(400, "VALIDATION_ERROR", "status must be one of draft, active, paused")
        ids = self._sorted_ids(status)
        page = [list_item(self.auds[a]) for a in ids[offset:offset + limit]]
        if not self.list_meta:
            return {"data": page}
        return {"data": page, "meta": {"total": len(ids), "limit": limit, "offset": offset}}

    def _create(self, body):
        if "name" not in body:
            raise ApiError(400, "VALIDATION_ERROR", "name is required")
        check_name(body["name"])
        status = body.get("status", "draft")
        check_status(status)
        if "config" not in body:
            raise ApiError(400, "VALIDATION_ERROR", "config.topicIds is required")
        check_config(body["config"])
        if status == "active" and self._active_count() >= self.slots:
            raise ApiError(403, "SLOTS_FULL", "All audience slots are in use")
        stamp = iso_from_ms(self._now_ms())
        aud = {
            "id": self._new_id(),
            "organizationId": ORG_ID,
            "name": body["name"],
            "status": status,
            "accessType": "paid",
            "dailyRefreshEnabled": False,
            "audienceSize": 0,
            "createdAt": stamp,
            "updatedAt": stamp,
            "config": json.loads(jdump(body["config"])),
        }
        self.auds[aud["id"]] = aud
        self._stale()
        return {"data": ordered(aud)}

    def _update(self, aud, body):
        if "name" in body:
            check_name(body["name"])
        if "status" in body:
            check_status(body["status"])
        if "config" in body:
            check_config(body["config"])
        if (body.get("status") == "active" and aud.get("status") != "active"
                and self._active_count() >= self.slots):
            raise ApiError(403, "SLOTS_FULL", "All audience slots are in use")
        if "name" in body:
            aud["name"] = body["name"]
        if "status" in body and body["status"] != aud.get("status"):
            aud["status"] = body["status"]
            self._by_status = {}
        if "config" in body:
            aud["config"] = json.loads(jdump(body["config"]))
        if any(k in body for k in ("name", "status", "config")):
            aud["updatedAt"] = iso_from_ms(self._now_ms(aud.get("updatedAt")))
        return {"data": ordered(aud)}

    # -- request log and faults

    def log_request(self, method, path, query, raw, t):
        if not raw:
            body = None
        else:
            try:
                body = parse_json_body(raw)
            except ApiError:
                body = raw.decode("utf-8", "replace")
        entry = {"method": method, "path": path, "query": query, "body": body,
                 "status": None, "t": round(t, 6)}
        with self.lock:
            self.log.append(entry)
        return entry

    def set_status(self, entry, status, dropped=False):
        with self.lock:
            entry["status"] = status
            if dropped:
                entry["dropped"] = True

    def take_fault(self, method, path):
        """The first queued fault matching this request (one count consumed)."""
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.get("method") and f["method"].upper() != method:
                    continue
                fp = f.get("path")
                if fp is not None:
                    if f.get("prefix"):
                        if not path.startswith(fp):
                            continue
                    elif path != fp:
                        continue
                f["remaining"] -= 1
                if f["remaining"] <= 0:
                    del self.faults[i]
                return dict(f)
        return None


# ---------------------------------------------------------------- control


FAULT_KINDS = ("status", "retry_after", "delay", "garbage", "drop", "wrong_shape")


def _nonneg_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def validate_fault(f):
    if not isinstance(f, dict):
        raise ApiError(400, "VALIDATION_ERROR", "fault must be an object")
    kind = f.get("kind")
    if kind not in FAULT_KINDS:
        raise ApiError(400, "VALIDATION_ERROR", "kind must be one of " + ", ".join(FAULT_KINDS))
    f.setdefault("count", 1)
    if not is_int(f["count"]) or f["count"] < 1:
        raise ApiError(400, "VALIDATION_ERROR", "count must be an integer >= 1")
    if "method" in f and f["method"] is not None and not isinstance(f["method"], str):
        raise ApiError(400, "VALIDATION_ERROR", "method must be a string")
    if "path" in f and f["path"] is not None and not isinstance(f["path"], str):
        raise ApiError(400, "VALIDATION_ERROR", "path must be a string")
    if kind == "status":
        f.setdefault("status", 500)
    if kind == "retry_after":
        f.setdefault("status", 429)
        f.setdefault("seconds", 1)
        if not is_int(f["seconds"]) or f["seconds"] < 0:
            raise ApiError(400, "VALIDATION_ERROR", "seconds must be an integer >= 0")
    if kind == "delay":
        f.setdefault("seconds", 1)
        if not _nonneg_number(f["seconds"]):
            raise ApiError(400, "VALIDATION_ERROR", "seconds must be a number >= 0")
    if "status" in f and not (is_int(f["status"]) and 100 <= f["status"] <= 599):
        raise ApiError(400, "VALIDATION_ERROR", "status must be an HTTP status code")
    f["remaining"] = f["count"]
    return f


def control(store, method, path, query, raw):
    """(status, obj) for a /_emu/ request; ApiError on a bad request."""
    parts = path.rstrip("/").split("/")[2:]  # after "", "_emu"
    route = "/".join(parts)
    with store.lock:
        if route == "log" and method == "GET":
            since = parse_query_int(query, "since", 0, 0, None)
            return 200, {"requests": store.log[since:]}
        if route == "log/clear" and method == "POST":
            store.log = []
            return 200, {"ok": True}
        if route == "faults" and method == "GET":
            return 200, {"faults": list(store.faults)}
        if route == "faults" and method == "POST":
            body = parse_json_body(raw)
            items = body if isinstance(body, list) else [body]
            items = [validate_fault(dict(f) if isinstance(f, dict) else f) for f in items]
            store.faults.extend(items)
            return 200, {"faults": list(store.faults)}
        if route == "faults/clear" and method == "POST":
            store.faults = []
            return 200, {"ok": True}
        if route == "state" and method == "GET":
            ids = store._sorted_ids(None)
            return 200, {"audiences": [ordered(store.auds[a]) for a in ids],
                         "slots": store.slots}
        if route == "audiences" and method == "POST":
            return 201, elsewhere_create(store, parse_json_object(raw) if raw else {})
        if len(parts) == 2 and parts[0] == "audiences" and method in ("PATCH", "DELETE"):
            aid = unquote(parts[1])
            aud = store._get(aid)
            if method == "DELETE":
                del store.auds[aid]
                store._stale()
                return 200, {"data": {"deleted": True}}
            return 200, elsewhere_update(store, aud, parse_json_object(raw) if raw else {})
        if route == "reset" and method == "POST":
            return 200, reset(store, parse_json_object(raw) if raw else {})
        if route == "settings" and method in ("GET", "POST"):
            if method == "POST":
                apply_settings(store, parse_json_object(raw) if raw else {})
            return 200, {"slots": store.slots, "latency_ms": store.latency_ms,
                         "list_meta": store.list_meta}
        if route == "shutdown" and method == "POST":
            return 200, {"ok": True}  # the handler stops the server once this is sent
    raise ApiError(404, "NOT_FOUND", "No such control endpoint")


def elsewhere_create(store, body):
    stamp = iso_from_ms(store._now_ms())
    aud = {
        "id": store._new_id(),
        "organizationId": ORG_ID,
        "name": "Created elsewhere",
        "status": "draft",
        "accessType": "paid",
        "dailyRefreshEnabled": False,
        "audienceSize": 0,
        "createdAt": stamp,
        "updatedAt": stamp,
        "config": {"topicIds": [117805], "minScore": 70, "maxScore": 99,
                   "minTopicOverlap": 1, "filters": {}},
    }
    aud.update(body)
    if not isinstance(aud.get("id"), str) or not aud["id"]:
        raise ApiError(400, "VALIDATION_ERROR", "id must be a non-empty string")
    if aud["id"] in store.auds:
        raise ApiError(409, "CONFLICT", "An audience with this id exists")
    store.auds[aud["id"]] = aud
    store._stale()
    return {"data": ordered(aud)}


def elsewhere_update(store, aud, body):
    remove = body.pop("_remove", [])
    if "id" in body and body["id"] != aud["id"]:
        raise ApiError(400, "VALIDATION_ERROR", "id cannot change")
    for k in remove if isinstance(remove, list) else []:
        if k != "id":
            aud.pop(k, None)
    aud.update(body)
    if "updatedAt" not in body:
        aud["updatedAt"] = iso_from_ms(store._now_ms(aud.get("updatedAt")))
    store._stale()
    return {"data": ordered(aud)}


def apply_settings(store, body):
    if "slots" in body:
        if not is_int(body["slots"]) or body["slots"] < 0:
            raise ApiError(400, "VALIDATION_ERROR", "slots must be an integer >= 0")
        store.slots = body["slots"]
    if "latency_ms" in body:
        if not _nonneg_number(body["latency_ms"]):
            raise ApiError(400, "VALIDATION_ERROR", "latency_ms must be a number >= 0")
        store.latency_ms = body["latency_ms"]
    if "list_meta" in body:
        if not isinstance(body["list_meta"], bool):
            raise ApiError(400, "VALIDATION_ERROR", "list_meta must be true or false")
        store.list_meta = body["list_meta"]


def reset(store, body):
    apply_settings(store, body)
    if "seed" in body:
        if not is_int(body["seed"]) or body["seed"] < 0:
            raise ApiError(400, "VALIDATION_ERROR", "seed must be an integer >= 0")
        store.load(make_seeded(body["seed"], store.slots))
    elif body.get("sample"):
        store.load(make_sample(store.slots))
    else:
        store.load([])
    store.log = []
    store.faults = []
    return {"audiences": len(store.auds)}


# ---------------------------------------------------------------- HTTP


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "leadpipe-emu/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.store.verbose:
            sys.stderr.write("leadpipe_emu: %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BadRequest("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        if not text.strip().isdigit() or int(text) > MAX_BODY:
            raise BadRequest("bad Content-Length")
        n = int(text)
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise BadRequest("short body")
        return data

    def _send(self, status, body, ctype="application/json; charset=utf-8", extra=None):
        reason = self.responses.get(status, ("Unknown",))[0]
        head = ["HTTP/1.1 %d %s" % (status, reason),
                "Server: " + self.server_version,
                "Date: " + self.date_time_string(),
                "Content-Type: " + ctype,
                "Content-Length: %d" % len(body)]
        for k, v in (extra or {}).items():
            head.append("%s: %s" % (k, v))
        if self.close_connection:
            head.append("Connection: close")
        self.log_request(status, len(body))
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        t = time.time()
        method = self.command
        split = urlsplit(self.path)
        path, rawq = split.path, split.query
        query = {}
        for k, v in parse_qsl(rawq, keep_blank_values=True):
            if k in query:
                query[k] = (query[k] if isinstance(query[k], list) else [query[k]]) + [v]
            else:
                query[k] = v
        try:
            raw = self._read_body()
        except BadRequest as e:
            self.close_connection = True
            self._send(400, jdump(error_body("BAD_REQUEST", str(e))))
            return
        if path == "/_emu" or path.startswith("/_emu/"):
            self._control(method, path, query, raw)
        else:
            self._api(method, path, query, raw, t)

    def _control(self, method, path, query, raw):
        store = self.server.store
        try:
            status, obj = control(store, method, path, query, raw)
            with store.lock:
                body = jdump(obj)
        except ApiError as e:
            status, body = e.status, jdump(error_body(e.code, e.message))
        stopping = path.rstrip("/") == "/_emu/shutdown" and status == 200
        if stopping:
            self.close_connection = True
        self._send(status, body)
        if stopping:
            threading.Thread(target=self.server.shutdown, daemon=True).start()

    def _api(self, method, path, query, raw, t):
        store = self.server.store
        entry = store.log_request(method, path, query, raw, t)
        with store.lock:
            latency = store.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        fault = store.take_fault(method, path)
        if fault and fault["kind"] == "delay":
            time.sleep(fault["seconds"])
            fault = None
        if fault and fault.get("process"):
            store.api(method, path, query, raw, self.headers)  # the answer is lost
        if fault:
            self._fault(fault, entry, path)
            return
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            status, body = store.api(method, path, query, raw, self.headers)
        else:
            status, body = 404, jdump(error_body("NOT_FOUND", "Not found"))
        store.set_status(entry, status)
        self._send(status, body)

    def _fault(self, f, entry, path):
        kind = f["kind"]
        store = self.server.store
        if kind == "drop":
            store.set_status(entry, None, dropped=True)
            self._drop()
            return
        extra = dict(f.get("headers") or {})
        ctype = "application/json; charset=utf-8"
        if kind == "status":
            status = f["status"]
            body = f.get("body", error_body("INTERNAL_ERROR", "Injected fault"))
        elif kind == "retry_after":
            status = f["status"]
            extra["Retry-After"] = str(f["seconds"])
            body = f.get("body", error_body("RATE_LIMITED", "Too many requests"))
        elif kind == "garbage":
            status = f.get("status", 200)
            body = f.get("body", "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
        else:  # wrong_shape
            status = f.get("status", 200)
            is_list = path.rstrip("/") == API_PREFIX and self.command == "GET"
            body = f.get("body", {"data": {"unexpected": True}} if is_list else {"data": [1, 2, 3]})
        if isinstance(body, str):
            data = body.encode("utf-8", "replace")
            ctype = "text/html" if kind == "garbage" else "text/plain; charset=utf-8"
        else:
            data = jdump(body)
        store.set_status(entry, status)
        self._send(status, data, ctype, extra)


class EmuServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that hangs up mid-answer is routine (timeouts, drop faults).
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)) and not self.store.verbose:
            return
        super().handle_error(request, client_address)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write("%d\n" % port)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Leadpipe audiences API emulator (127.0.0.1 only).")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--key", default=DEFAULT_KEY, help="the accepted x-api-key")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--seed", type=int, metavar="N", help="N generated audiences")
    data.add_argument("--sample", action="store_true", help="realistic demo data (default)")
    data.add_argument("--empty", action="store_true", help="no audiences")
    p.add_argument("--slots", type=int, help="active audiences allowed (default 10; with --seed 1000000)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every API request")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.add_argument("--verbose", action="store_true", help="one stderr line per request")
    args = p.parse_args(argv)
    if args.seed is not None and args.seed < 0:
        p.error("--seed must be >= 0")
    if args.slots is not None and args.slots < 0:
        p.error("--slots must be >= 0")
    if args.latency_ms < 0:
        p.error("--latency-ms must be >= 0")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    slots = args.slots
    if slots is None:
        slots = SEED_SLOTS if args.seed is not None else DEFAULT_SLOTS
    store = Store(args.key, slots, args.latency_ms, verbose=args.verbose)
    if args.seed is not None:
        store.load(make_seeded(args.seed, slots))
    elif not args.empty:
        store.load(make_sample(slots))
    server = EmuServer(("127.0.0.1", args.port), Handler)
    server.store = store
    port = server.server_address[1]

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        sys.stderr.write("leadpipe_emu: listening on http://127.0.0.1:%d (%d audiences, %d slots)\n"
                         % (port, len(store.auds), slots))
        sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
