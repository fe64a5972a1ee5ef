#!/usr/bin/python3
"""leadpipe_emu.py - a local stand-in for the Leadpipe Intent audiences API.

Serves /v1/intent/audiences on 127.0.0.1 (HTTP/1.1, keep-alive) for the unit
tests, the integration tests, the benchmark and the demo, plus a /_emu/
control interface to inspect requests, inject faults and change data
"elsewhere". The contract is README.md beside this file. Standard library only.
"""

import argparse
import calendar
import hashlib
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

API_PREFIX = "/v1/intent/audiences"
ACCOUNT_PATH = "/v1/data/account"
TOPICS_PATH = "/v1/intent/topics"
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


# ---------------------------------------------------------------- runs: records

RUN_FIELDS = (
    "id", "audienceId", "organizationId", "status", "runType", "configHash", "dataDate",
    "resultKey", "candidateCount", "resultCount", "attempts", "nextAttemptAt",
    "idempotencyKey", "errorCode", "errorMessage", "startedAt", "completedAt",
    "cancelledAt", "createdAt", "updatedAt",
)
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
RUN_TYPES = ("manual", "daily", "preview")
EXPORT_ROW_CAP = 300_000
DEFAULT_RUN_QUEUE_S = 0.5
DEFAULT_RUN_DURATION_S = 1.0
# Per-run knobs, kept in the run under "_emu" (never in API answers).
RUN_KNOBS = ("rows", "targetBytes", "padBytes", "outcome", "queue_s", "duration_s")


def run_record(run):
    """The run as the API answers it: the documented fields first, no knobs."""
    out = {k: run[k] for k in RUN_FIELDS if k in run}
    for k, v in run.items():
        if k not in out and k != "_emu":
            out[k] = v
    return out


def config_hash(cfg):
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def new_run(rid, aud, run_type, created_ms, idem=None):
    stamp = iso_from_ms(created_ms)
    return {
        "id": rid,
        "audienceId": aud["id"],
        "organizationId": aud.get("organizationId", ORG_ID),
        "status": "queued",
        "runType": run_type,
        "configHash": config_hash(aud.get("config")),
        "dataDate": stamp[:10],
        "resultKey": None,
        "candidateCount": None,
        "resultCount": None,
        "attempts": 0,
        "nextAttemptAt": None,
        "idempotencyKey": idem,
        "errorCode": None,
        "errorMessage": None,
        "startedAt": None,
        "completedAt": None,
        "cancelledAt": None,
        "createdAt": stamp,
        "updatedAt": stamp,
        "_emu": {},
    }


def run_rows(run, aud=None, cap=EXPORT_ROW_CAP):
    """(rows, pad) of a run once completed: its resultCount, and the bytes added to
    each row's headline. Knobs first (rows, else targetBytes), else audienceSize."""
    knobs = run["_emu"]
    if knobs.get("rows") is None and knobs.get("targetBytes") is not None:
        return export_plan(run, cap)
    if knobs.get("rows") is not None:
        rows = knobs["rows"]
    else:
        size = (aud or {}).get("audienceSize")
        rows = size if is_int(size) and size > 0 else 120
    return rows, knobs.get("padBytes") or 0


def set_run_results(run, aud=None, cap=EXPORT_ROW_CAP):
    """Fixes the completed run's rows (and padding) and its counts."""
    rows, pad = run_rows(run, aud, cap)
    run["_emu"]["rows"], run["_emu"]["padBytes"] = rows, pad
    run["resultCount"] = rows
    run["candidateCount"] = rows + rows // 2 + 7


def start_run(run, ms):
    run["status"] = "running"
    run["startedAt"] = iso_from_ms(ms)
    run["attempts"] = (run.get("attempts") or 0) + 1
    run["updatedAt"] = iso_from_ms(ms)


def finish_run(run, ms, outcome, aud=None, code=None, message=None, cap=EXPORT_ROW_CAP):
    if not run.get("startedAt"):
        start_run(run, ms)
    run["status"] = outcome
    run["updatedAt"] = run["completedAt"] = iso_from_ms(ms)
    if outcome == "completed":
        set_run_results(run, aud, cap)
        run["resultKey"] = "runs/%s/%s/results.jsonl.gz" % (run["audienceId"], run["id"])
        run["errorCode"] = run["errorMessage"] = None
    else:
        run["errorCode"] = code or "PROVIDER_TIMEOUT"
        run["errorMessage"] = message or "The data provider did not answer in time"


def advance_run(run, now_ms, aud=None, cap=EXPORT_ROW_CAP):
    """Moves a run along its timeline (queue_s, then duration_s; None = only when told)."""
    knobs = run["_emu"]
    if run.get("status") == "queued" and knobs.get("queue_s") is not None:
        at = ms_from_iso(run.get("createdAt"))
        if at is not None and now_ms >= at + knobs["queue_s"] * 1000:
            start_run(run, at + int(knobs["queue_s"] * 1000))
    if run.get("status") == "running" and knobs.get("duration_s") is not None:
        at = ms_from_iso(run.get("startedAt"))
        if at is not None and now_ms >= at + knobs["duration_s"] * 1000:
            finish_run(run, at + int(knobs["duration_s"] * 1000),
                       knobs.get("outcome") or "completed", aud, cap=cap)


# ---------------------------------------------------------------- runs: people and CSV

_FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
          "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
          "Thomas", "Sarah", "Charles", "Karen", "Priya", "Wei", "Aisha", "Mateo", "Sofia",
          "Lukas", "Emma", "Noah", "Olivia", "Liam", "Hannah", "Kenji", "Fatima", "Diego",
          "Chloe", "Ethan", "Grace", "Omar", "Ines", "Viktor"]
_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
         "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas",
         "Taylor", "Moore", "Jackson", "Martin", "Lee", "Patel", "Nguyen", "Kim", "Schmidt",
         "Rossi", "Dubois", "Kowalski", "Novak", "Okafor", "Tanaka", "Silva", "Berg",
         "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker"]
# name, domain, industry, industryGroup
_COMPANIES = [
    ("Northwind Analytics", "northwind-analytics.com", "software development", "Technology"),
    ("Contoso Financial", "contosofinancial.com", "financial services", "Finance"),
    ("Fabrikam Health", "fabrikamhealth.org", "hospital & health care", "Healthcare"),
    ("Globex Manufacturing", "globex-mfg.com", "manufacturing", "Industrial"),
    ("Initech", "initech.io", "software development", "Technology"),
    ("Umbrella Logistics", "umbrellalogistics.com", "logistics", "Transportation"),
    ("Stark Insurance Group", "starkinsurance.com", "insurance", "Finance"),
    ("Wayne University", "wayne.edu", "higher education", "Education"),
    ("Pinnacle Realty", "pinnaclerealty.com", "real estate", "Real Estate"),
    ("Bluebird Media", "bluebird.media", "marketing & advertising", "Media"),
    ("Ironclad Builders", "ironcladbuilders.com", "construction", "Industrial"),
    ("Lex & Partners", "lexpartners.law", "legal services", "Professional Services"),
    ("Helios Retail", "heliosretail.com", "retail", "Consumer"),
    ("Quantum Cloudworks", "quantumcloudworks.com", "software development", "Technology"),
    ("Evergreen Foods", "evergreenfoods.com", "retail", "Consumer"),
    ("Summit Capital", "summitcapital.com", "financial services", "Finance"),
]
_EMPLOYEE_RANGES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000",
                    "5001-10000", "10001+"]
_COUNTRIES = ["US", "US", "US", "GB", "DE", "CA", "FR", "NL", "AU", "IN", "SG", "CH"]
_SENIORITIES = ["c_suite", "vp", "director", "manager", "senior", "entry"]
_DEPARTMENTS = ["engineering", "sales", "marketing", "finance", "operations",
                "human_resources", "it", "legal", "product"]
_DEPT_LABEL = {"engineering": "Engineering", "sales": "Sales", "marketing": "Marketing",
               "finance": "Finance", "operations": "Operations",
               "human_resources": "People", "it": "IT", "legal": "Legal", "product": "Product"}
_CHIEF = {"engineering": "Chief Technology Officer", "sales": "Chief Revenue Officer",
          "marketing": "Chief Marketing Officer", "finance": "Chief Financial Officer",
          "operations": "Chief Operating Officer", "human_resources": "Chief People Officer",
          "it": "Chief Information Officer", "legal": "General Counsel",
          "product": "Chief Product Officer"}
_MAILHOSTS = ["gmail.com", "outlook.com", "icloud.com", "yahoo.com", "proton.me"]

# The CSV columns, in order (company fields flattened with a "company" prefix).
PERSON_FIELDS = ("hashedEmail", "firstName", "lastName", "fullName", "businessEmail",
                 "personalEmail", "email", "primaryContactEmail", "phone", "linkedinUrl",
                 "headline", "jobTitle", "seniority", "department", "score")
COMPANY_FIELDS = ("name", "domain", "industry", "industryGroup", "employeeRange", "country")
CSV_COLUMNS = PERSON_FIELDS + tuple("company" + f[0].upper() + f[1:] for f in COMPANY_FIELDS)
CSV_HEADER = (",".join(CSV_COLUMNS) + "\n").encode("ascii")
POOL_SIZE = 2003  # people per run before they repeat (each row keeps its own hashedEmail)
_PAD_TEXT = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 40
_SCORE_BUCKETS = ((50, 59), (60, 69), (70, 79), (80, 89), (90, 99))

# Rows 0-4 of every export with at least 5 rows carry these (CSV quoting tests).
_SPECIAL_PEOPLE = [
    {"company": {"name": "Acme, Inc."}},                                    # a comma
    {"headline": 'Builds "zero-trust" networks, mostly'},                   # quotes and a comma
    {"headline": "First line\nsecond line"},                                # LF
    {"headline": "Carriage\r\nreturn", "jobTitle": "VP, Sales"},            # CR LF, a comma
    {"firstName": "José", "lastName": "Müller-Øberg", "fullName": "José Müller-Øberg",
     "businessEmail": "jose.muller@bjdata.cn", "email": "jose.muller@bjdata.cn",
     "primaryContactEmail": "jose.muller@bjdata.cn", "personalEmail": None,
     "linkedinUrl": "https://www.linkedin.com/in/jos%C3%A9-m%C3%BCller",
     "headline": "Growth 🚀 leader", "company": {"name": "北京数据科技有限公司",
                                                 "domain": "bjdata.cn"}},  # unicode
]


def hashed_email(rid, i):
    return hashlib.sha256(("%s:%d" % (rid, i)).encode("ascii", "replace")).hexdigest()


def _make_person(rng, j):
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    name, domain, industry, group = rng.choice(_COMPANIES)
    sen, dept = rng.choice(_SENIORITIES), rng.choice(_DEPARTMENTS)
    if sen == "c_suite":
        title = _CHIEF[dept]
    elif sen in ("vp", "director"):
        title = "%s of %s" % ("VP" if sen == "vp" else "Director", _DEPT_LABEL[dept])
    elif sen == "manager":
        title = "%s Manager" % _DEPT_LABEL[dept]
    else:
        title = "%s%s Specialist" % ("Senior " if sen == "senior" else "", _DEPT_LABEL[dept])
    business = "%s.%s@%s" % (first.lower(), last.lower(), domain) if rng.random() < 0.82 else None
    personal = ("%s%s%d@%s" % (first.lower(), last[0].lower(), rng.randint(1, 99),
                               rng.choice(_MAILHOSTS)) if rng.random() < 0.4 else None)
    p = {
        "firstName": first,
        "lastName": last,
        "fullName": "%s %s" % (first, last),
        "businessEmail": business,
        "personalEmail": personal,
        "email": business or personal,
        "primaryContactEmail": business or personal,
        "phone": ("+1-%03d-555-%04d" % (rng.randint(201, 989), rng.randint(0, 9999))
                  if rng.random() < 0.45 else None),
        "linkedinUrl": ("https://www.linkedin.com/in/%s-%s-%d" % (first.lower(), last.lower(),
                                                                 rng.randint(1000, 99999))
                        if rng.random() < 0.85 else None),
        "headline": "%s at %s" % (title, name) if rng.random() < 0.9 else None,
        "jobTitle": title,
        "seniority": sen,
        "department": dept,
        "score": min(99, int(rng.triangular(50, 100, 82))),
        "company": {"name": name, "domain": domain, "industry": industry,
                    "industryGroup": group, "employeeRange": rng.choice(_EMPLOYEE_RANGES),
                    "country": rng.choice(_COUNTRIES)},
    }
    if j < len(_SPECIAL_PEOPLE):
        for k, v in _SPECIAL_PEOPLE[j].items():
            if k == "company":
                p["company"].update(v)
            else:
                p[k] = v
    return p


def csv_field(v):
    if v is None:
        return ""
    s = str(v)
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


class PeoplePool:
    """POOL_SIZE people for one run (seeded by its id), each with its CSV row
    (without the leading hashedEmail), plus sizes for the Content-Length."""

    def __init__(self, rid, pad):
        seed = int.from_bytes(hashlib.sha256(rid.encode("utf-8", "replace")).digest()[:8], "big")
        rng = random.Random(seed)
        self.rid = rid
        self.people = []
        rows = []
        for j in range(POOL_SIZE):
            p = _make_person(rng, j)
            if pad > 0:
                h = p["headline"]
                p["headline"] = (h + " " + _pad(pad - 1)) if h else _pad(pad)
            self.people.append(p)
            vals = [p[f] for f in PERSON_FIELDS[1:]] + [p["company"][f] for f in COMPANY_FIELDS]
            rows.append(",".join(csv_field(v) for v in vals) + "\n")
        self.rows = rows
        self.lens = [len(r.encode("utf-8")) for r in rows]
        self.prefix = [0]
        for n in self.lens:
            self.prefix.append(self.prefix[-1] + n)

    def bytes_for(self, nrows):
        """Bytes of the header and the first nrows rows."""
        cycles, rest = divmod(nrows, POOL_SIZE)
        return (len(CSV_HEADER) + nrows * 65 + cycles * self.prefix[POOL_SIZE]
                + self.prefix[rest])

    def person(self, i):
        p = dict(self.people[i % POOL_SIZE])
        p["company"] = dict(p["company"])
        out = {"hashedEmail": hashed_email(self.rid, i)}
        out.update(p)
        return out

    def chunks(self, nrows, batch=512):
        yield CSV_HEADER
        rid, rows = self.rid, self.rows
        for start in range(0, nrows, batch):
            part = []
            for i in range(start, min(nrows, start + batch)):
                part.append(hashed_email(rid, i))
                part.append(",")
                part.append(rows[i % POOL_SIZE])
            yield "".join(part).encode("utf-8")


def _pad(n):
    text = _PAD_TEXT
    while len(text) < n:
        text += _PAD_TEXT
    return text[:n]


_POOLS = {}
_POOLS_LOCK = threading.Lock()


def people_pool(rid, pad=0):
    """The run's pool (cached: a few runs at a time)."""
    key = (rid, pad)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            return pool
    pool = PeoplePool(rid, pad)
    with _POOLS_LOCK:
        if len(_POOLS) >= 12:
            _POOLS.pop(next(iter(_POOLS)))
        _POOLS[key] = pool
    return pool


def export_plan(run, cap=EXPORT_ROW_CAP):
    """(rows, pad) for an export of about targetBytes: as many rows as that takes
    up to the cap, then padding (bytes added to each row's headline)."""
    target = run["_emu"]["targetBytes"]
    pad = 0
    pool = people_pool(run["id"], 0)
    avg = (pool.prefix[POOL_SIZE] + 65 * POOL_SIZE) / POOL_SIZE
    rows = max(1, min(cap, -(-(target - len(CSV_HEADER)) // int(avg))))
    size = pool.bytes_for(rows)
    if size < target:
        pad = -(-(target - size) // rows)
    return rows, pad


def run_stats(pool, total):
    """stats for a completed run of `total` people (the rows of the results endpoint)."""
    mult = [total // POOL_SIZE + (1 if j < total % POOL_SIZE else 0) for j in range(POOL_SIZE)]
    fields = [f for f in PERSON_FIELDS if f != "score"] + ["company." + f for f in COMPANY_FIELDS]
    counts = dict.fromkeys(fields, 0)
    counts["hashedEmail"] = total
    hist = [0] * len(_SCORE_BUCKETS)
    score_sum = 0
    for j, p in enumerate(pool.people):
        m = mult[j]
        if not m:
            continue
        for f in fields[1:]:
            v = p["company"].get(f[8:]) if f.startswith("company.") else p.get(f)
            if v not in (None, ""):
                counts[f] += m
        for b, (lo, hi) in enumerate(_SCORE_BUCKETS):
            if lo <= p["score"] <= hi:
                hist[b] += m
        score_sum += p["score"] * m

    def pct(n):
        return round(100.0 * n / total, 1) if total else 0.0

    return {
        "total": total,
        "fillRates": {f: {"count": counts[f], "percent": pct(counts[f])} for f in fields},
        "scoreHistogram": [{"bucket": "%d-%d" % b, "count": hist[k], "percent": pct(hist[k])}
                           for k, b in enumerate(_SCORE_BUCKETS)],
        "averages": {"score": round(score_sum / total, 2) if total else None},
    }


# ---------------------------------------------------------------- account, filters, topics

ACCOUNT = {
    "organization": {"id": ORG_ID, "name": "Acme Growth Co."},
    "plan": "growth",
    "credits": {"total": 50000, "used": 12840, "available": 37160},
}

FILTER_CATALOG = [
    {"key": "role.seniority", "label": "Seniority", "type": "multi_select",
     "values": [{"value": v, "label": l} for v, l in (
         ("c_suite", "C-Suite"), ("vp", "VP"), ("director", "Director"),
         ("manager", "Manager"), ("senior", "Senior"), ("entry", "Entry level"))]},
    {"key": "role.department", "label": "Department", "type": "multi_select",
     "values": [{"value": v, "label": _DEPT_LABEL[v]} for v in _DEPARTMENTS]},
    {"key": "company.industries", "label": "Industry", "type": "multi_select",
     "values": [{"value": v, "label": v.title()} for v in (
         "software development", "financial services", "hospital & health care",
         "manufacturing", "retail", "logistics", "insurance", "higher education",
         "real estate", "marketing & advertising", "construction", "legal services",
         "telecommunications", "automotive", "biotechnology", "government administration")]},
    {"key": "company.employeeRange", "label": "Company size", "type": "range_select",
     "values": [{"value": v, "label": v + " employees"} for v in _EMPLOYEE_RANGES]},
    {"key": "company.revenueRange", "label": "Company revenue", "type": "range_select",
     "values": [{"value": v, "label": v} for v in (
         "<1M", "1M-10M", "10M-50M", "50M-100M", "100M-500M", "500M-1B", "1B+")]},
    {"key": "location.countries", "label": "Country", "type": "multi_select",
     "values": [{"value": c, "label": n} for c, n in (
         ("US", "United States"), ("CA", "Canada"), ("GB", "United Kingdom"),
         ("DE", "Germany"), ("FR", "France"), ("NL", "Netherlands"), ("CH", "Switzerland"),
         ("AU", "Australia"), ("IN", "India"), ("SG", "Singapore"), ("BR", "Brazil"),
         ("JP", "Japan"), ("ES", "Spain"), ("SE", "Sweden"), ("IE", "Ireland"))]},
    {"key": "jobTitle.include", "label": "Job title contains", "type": "text_list",
     "operators": ["contains", "equals", "starts_with"], "modes": ["any", "all"]},
    {"key": "jobTitle.exclude", "label": "Job title excludes", "type": "text_list",
     "operators": ["contains", "equals"], "modes": ["any"]},
    {"key": "company.domains.exclude", "label": "Exclude company domains", "type": "text_list",
     "maxItems": 5000},
    {"key": "contact.hasBusinessEmail", "label": "Has business email", "type": "boolean"},
    {"key": "contact.hasPhone", "label": "Has phone", "type": "boolean"},
    {"key": "contact.hasLinkedin", "label": "Has LinkedIn", "type": "boolean"},
]

TOPIC_COUNT = 20_000
TOPIC_FIRST_ID = 100_001
_TOPIC_TYPES = ("product", "category", "vendor", "use_case")
_TOPIC_SUBJECTS = [
    "Marketing", "Sales", "CRM", "Cloud", "Data", "Security", "HR", "Payroll", "ERP",
    "Supply Chain", "Logistics", "E-commerce", "Analytics", "AI", "DevOps", "Kubernetes",
    "Identity", "Email", "Video", "Collaboration", "Accounting", "Tax", "Procurement",
    "Legal", "Compliance", "Customer Success", "Support", "Billing", "Payments", "Fraud",
    "Insurance", "Healthcare", "Telehealth", "Real Estate", "Construction", "Energy",
    "Fleet", "Inventory", "Recruiting", "Learning", "Observability", "Backup", "Network",
    "Endpoint", "Database", "Warehouse", "Content", "SEO", "Advertising", "Events",
    "Field Service", "Travel", "Expense", "Contract", "Document", "Workflow", "Low-Code",
    "API", "Edge", "IoT", "Robotics", "Quality", "Manufacturing", "Retail", "POS",
    "Hospitality", "Education", "Nonprofit", "Government", "Banking", "Wealth", "Lending",
    "Crypto", "Privacy", "Risk", "Audit", "Treasury", "Pricing", "Subscription", "Partner",
    "Channel", "Social Media", "Influencer", "Loyalty", "Survey", "Feedback", "Chat",
    "Voice", "Telephony", "Sales Enablement", "Revenue", "Forecasting", "Planning",
    "Project", "Portfolio", "Asset", "Facilities", "Workplace", "Benefits", "Wellness"]
_TOPIC_OBJECTS = [
    "Automation", "Software", "Platforms", "Tools", "Management", "Analytics", "Security",
    "Migration", "Integration", "Consulting", "Services", "Outsourcing", "Monitoring",
    "Optimization", "Compliance", "Training", "Hardware", "Infrastructure", "Strategy",
    "Best Practices", "Pricing", "Alternatives", "Reviews", "Implementation", "Vendors",
    "Trends", "Certification", "Benchmarks", "Templates", "APIs", "Open Source",
    "Data Quality", "Governance", "Reporting", "Dashboards", "Testing", "Orchestration",
    "Marketplaces", "Startups", "Regulation", "Modernization", "Cost Reduction",
    "Self-Service", "Mobile Apps", "SaaS", "On-Premise", "Hybrid Cloud", "Case Studies",
    "ROI", "Replacement", "Evaluation", "RFP", "Budgeting", "Hiring", "Salaries",
    "Conferences", "Webinars", "Research", "Surveys", "Roadmaps", "Playbooks", "Checklists",
    "Frameworks", "Use Cases", "Risks", "Incidents", "Backups", "Scaling", "Latency",
    "Workloads", "Licensing", "Contracts", "Renewals", "Onboarding", "Churn", "Retention",
    "Engagement", "Personalization", "Segmentation", "Attribution", "Forecasts", "Audits",
    "Policies", "Controls", "Standards", "Architecture", "Design", "Accessibility",
    "Localization", "Translation", "Archiving", "eDiscovery", "Encryption", "Tokenization",
    "Sandboxing", "Observability", "Chatbots", "Agents", "Copilots", "Assistants",
    "Fine-Tuning", "Embeddings", "Search", "Recommendations", "Routing", "Scheduling",
    "Dispatch", "Tracking", "Labeling", "Annotation", "Synthetic Data", "Privacy Tech",
    "Consent", "Identity Verification", "KYC", "AML", "Chargebacks", "Invoicing",
    "Reconciliation", "Close", "Consolidation", "Spend", "Sourcing", "Suppliers",
    "Warehousing", "Fulfillment", "Returns", "Shipping", "Customs", "Freight", "Telematics",
    "Maintenance", "Inspections", "Safety", "Sustainability", "Carbon Accounting", "ESG",
    "Diversity", "Compensation", "Performance", "Succession", "Workforce", "Scheduling Tools",
    "Time Tracking", "Kiosks", "Signage", "Printing", "Scanning", "E-Signature", "Notaries",
    "Knowledge Bases", "Intranets", "Wikis", "Ticketing", "Help Desks", "Status Pages",
    "Alerting", "Paging", "Runbooks", "Postmortems", "Feature Flags", "Experimentation",
    "A/B Testing", "Heatmaps", "Session Replay", "Forms", "Landing Pages", "Webinars Tools",
    "Podcasts", "Video Hosting", "Streaming", "CDN", "DNS", "Load Balancing", "Firewalls",
    "Zero Trust", "SASE", "VPN", "SD-WAN", "Wi-Fi", "5G", "Satellite", "Edge Computing",
    "GPUs", "Quantum", "Blockchain", "NFTs", "Metaverse", "AR/VR", "Wearables", "Drones",
    "3D Printing", "CAD", "PLM", "MES", "SCADA", "Digital Twins"]
_TOPIC_INDUSTRIES = ["Technology", "Finance", "Healthcare", "Industrial", "Consumer",
                     "Professional Services", "Education", "Real Estate", "Media", "Energy",
                     "Transportation", "Government"]
_TOPIC_CATEGORIES = ["Software", "Services", "Hardware", "Business Topics", "Technology Trends",
                     "Finance & Accounting", "Marketing & Sales", "People & HR",
                     "Operations", "Security & Risk"]
# Names that need escaping in a TSV (SPEC: a tab, CR or LF inside becomes a space).
_TOPIC_SPECIAL = {
    100007: "Sales\tEnablement Platforms",
    100042: "ERP\r\nMigration Services",
    100099: "Remote\nWork Tools",
    100123: "Point-of-Sale \"POS\" Systems, Cloud",
    100256: "Café & Restaurant Tech — Zürich",
    117805: "Marketing Automation",
    117890: "CRM Software",
    117918: "Sales Intelligence",
    118002: "Cloud Security",
}
_TOPICS_CACHE = {}


def make_topics():
    """TOPIC_COUNT topics with ids TOPIC_FIRST_ID.., the same every time (cached)."""
    if "all" in _TOPICS_CACHE:
        return _TOPICS_CACHE["all"]
    rng = random.Random(0x70D1C5)
    combos = [(s, o) for s in _TOPIC_SUBJECTS for o in _TOPIC_OBJECTS]
    rng.shuffle(combos)
    used = set(_TOPIC_SPECIAL.values())
    combos = [c for c in combos if "%s %s" % c not in used]
    topics = []
    for k in range(TOPIC_COUNT):
        tid = TOPIC_FIRST_ID + k
        subject, obj = combos[k % len(combos)]
        name = _TOPIC_SPECIAL.get(tid)
        if name is None:
            name = "%s %s" % (subject, obj)
            if k >= len(combos):
                name += " (%d)" % (k // len(combos) + 1)
        topics.append({"topicId": tid, "topicName": name,
                       "type": _TOPIC_TYPES[rng.randrange(len(_TOPIC_TYPES))],
                       "industry": _TOPIC_INDUSTRIES[rng.randrange(len(_TOPIC_INDUSTRIES))],
                       "category": _TOPIC_CATEGORIES[rng.randrange(len(_TOPIC_CATEGORIES))]})
    _TOPICS_CACHE["all"] = topics
    _TOPICS_CACHE["body"] = jdump({"data": topics})
    return topics


# ---------------------------------------------------------------- sample and seeded runs


def _fixed_run(aud, k, run_type, status, created_ms, rows=None, **extra):
    rng = random.Random("%s:run:%d" % (aud["id"], k))
    run = new_run(_uuid4(rng), aud, run_type, created_ms)
    run["_emu"] = {"queue_s": None, "duration_s": None}
    if rows is not None:
        run["_emu"]["rows"] = rows
    if status in ("running", "completed", "failed"):
        start_run(run, created_ms + rng.randint(2_000, 30_000))
    if status in ("completed", "failed"):
        finish_run(run, ms_from_iso(run["startedAt"]) + rng.randint(40_000, 600_000), status,
                   aud, code=extra.pop("errorCode", None), message=extra.pop("errorMessage", None))
    if status == "cancelled":
        run["status"] = "cancelled"
        run["cancelledAt"] = run["updatedAt"] = iso_from_ms(created_ms + 45_000)
    run.update(extra)
    return run


def make_sample_runs(audiences):
    """Runs for the sample's active audiences: three daily runs each (Nov 23-25,
    04:00 UTC), one of them failed for the second active audience; the first has
    a completed manual run and a manual run still running, the third a queued
    manual run and a cancelled one. Runs here move only when told."""
    out = []
    actives = [a for a in audiences if a.get("status") == "active"]
    for n, aud in enumerate(actives):
        rows = min(aud.get("audienceSize") or 120, 4800)
        offset = (aud.get("audienceSize") or 0) * 61
        for d, day in enumerate((23, 24, 25)):
            created = ms_from_date(2026, 11, day, 4, 0, 0) + offset
            if n == 1 and day == 24:
                out.append(_fixed_run(aud, d, "daily", "failed", created, attempts=3,
                                      errorCode="PROVIDER_TIMEOUT",
                                      errorMessage="The data provider did not answer in time"))
            else:
                out.append(_fixed_run(aud, d, "daily", "completed", created,
                                      rows=rows - d * (rows // 20)))
        if n == 0:
            out.append(_fixed_run(aud, 10, "manual", "completed",
                                  ms_from_date(2026, 11, 25, 10, 12, 7), rows=rows,
                                  idempotencyKey="demo-2026-11-25-1012"))
            out.append(_fixed_run(aud, 11, "manual", "running",
                                  ms_from_date(2026, 11, 26, 8, 30, 0)))
        if n == 2:
            out.append(_fixed_run(aud, 10, "manual", "cancelled",
                                  ms_from_date(2026, 11, 24, 15, 0, 0)))
            out.append(_fixed_run(aud, 11, "manual", "queued",
                                  ms_from_date(2026, 11, 26, 9, 0, 0)))
    return out


def make_seeded_runs(audiences):
    """One completed daily run (a day after createdAt) per active seeded audience."""
    out = []
    for aud in audiences:
        if aud.get("status") == "active":
            created = ms_from_iso(aud["createdAt"]) + 86_400_000
            out.append(_fixed_run(aud, 0, "daily", "completed", created,
                                  rows=aud.get("audienceSize") or 120))
    return out


# ---------------------------------------------------------------- the store


class Body:
    """An answer sent in chunks (export.csv): its length is known up front."""

    def __init__(self, length, chunks, ctype, headers=None):
        self.length = length
        self.chunks = chunks  # a function: a fresh iterator of bytes each call
        self.ctype = ctype
        self.headers = headers or {}


class Store:
    """All emulator state; every access holds self.lock."""

    def __init__(self, key, slots, latency_ms, verbose=False, run_queue_s=DEFAULT_RUN_QUEUE_S,
                 run_duration_s=DEFAULT_RUN_DURATION_S):
        self.lock = threading.Lock()
        self.key = key
        self.slots = slots
        self.latency_ms = latency_ms
        self.list_meta = True  # the API may or may not send meta.total: test both
        self.verbose = verbose
        self.auds = {}
        self.log = []
        # TLS handshakes (--tls-cert) that succeeded and that failed: a client
        # refusing the certificate sends no request, so the log cannot say.
        self.tls = {"handshakes": 0, "refused": 0}
        # TCP connections that carried an API request (the control interface's
        # own do not count) and the most API requests in progress at once: how
        # a client spreads its requests over connections, which the log cannot say.
        self.conns = {"connections": 0, "requests": 0, "in_flight": 0, "max_in_flight": 0}
        self.conns_epoch = 0  # bumped by a clear: a connection open then counts again
        self.faults = []
        self.last_ms = 0
        self.id_rng = random.Random(0x1EAD91BE)
        self._order = None  # ids sorted by (createdAt, id); None when stale
        self._by_status = {}
        self.runs = {}  # run id -> run (with its knobs under "_emu")
        self.idem = {}  # (audience id, Idempotency-Key) -> run id
        self.run_defaults = {}  # audience id -> knobs for its next runs
        self.run_queue_s = run_queue_s  # None: runs stay queued until told
        self.run_duration_s = run_duration_s  # None: runs stay running until told
        self.run_rows = None  # rows of runs created from now on (None: audienceSize)
        self.export_row_cap = EXPORT_ROW_CAP
        self.run_rng = random.Random(0x5EED2)  # apart from id_rng: audience ids stay as they were
        self.account = json.loads(jdump(ACCOUNT))

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

    def load(self, audiences, runs=()):
        self.auds = {a["id"]: a for a in audiences}
        self._stale()
        self.runs = {r["id"]: r for r in runs}
        self.idem = {(r["audienceId"], r["idempotencyKey"]): r["id"]
                     for r in runs if r.get("idempotencyKey")}
        self.run_defaults = {}

    def _drop_audience(self, aid):
        del self.auds[aid]
        self._stale()
        for rid in [r for r, run in self.runs.items() if run.get("audienceId") == aid]:
            del self.runs[rid]
        self.idem = {k: v for k, v in self.idem.items() if k[0] != aid}
        self.run_defaults.pop(aid, None)

    # -- runs (caller holds the lock)

    def _new_run_id(self):
        while True:
            rid = _uuid4(self.run_rng)
            if rid not in self.runs:
                return rid

    def _run_knobs(self, aid, extra=None):
        knobs = {"queue_s": self.run_queue_s, "duration_s": self.run_duration_s}
        if self.run_rows is not None:
            knobs["rows"] = self.run_rows
        knobs.update(self.run_defaults.get(aid, {}))
        knobs.update(extra or {})
        return knobs

    def _advance(self, run):
        advance_run(run, int(time.time() * 1000), self.auds.get(run.get("audienceId")),
                    self.export_row_cap)
        return run

    def _runs_of(self, aid):
        """The audience's runs, newest first (createdAt, then id)."""
        runs = [self._advance(r) for r in self.runs.values() if r.get("audienceId") == aid]
        runs.sort(key=lambda r: (str(r.get("createdAt") or ""), r["id"]), reverse=True)
        return runs

    def _get_run(self, aid, rid):
        self._get(aid)
        run = self.runs.get(rid)
        if run is None or run.get("audienceId") != aid:
            raise ApiError(404, "NOT_FOUND", "Run not found")
        return self._advance(run)

    # -- API (answers are serialised under the lock: records change in place)

    def api(self, method, path, query, raw, headers):
        """(status, body) for one API request: body is bytes, or a Body to stream."""
        with self.lock:
            try:
                if path.rstrip("/") != TOPICS_PATH and headers.get("x-api-key") != self.key:
                    raise ApiError(401, "UNAUTHORIZED", "Missing or invalid API key")
                if path.rstrip("/") == TOPICS_PATH:
                    status, obj = 200, self._topics(method, query)
                elif path.rstrip("/") == ACCOUNT_PATH:
                    status, obj = 200, self._account(method)
                else:
                    status, obj = self._route(method, path, query, raw, headers)
            except ApiError as e:
                status, obj = e.status, error_body(e.code, e.message)
            if isinstance(obj, (Body, bytes)):
                return status, obj
            return status, jdump(obj)

    def _route(self, method, path, query, raw, headers):
        rest = path[len(API_PREFIX):]
        if rest in ("", "/"):
            if method == "GET":
                return 200, self._list(query)
            if method == "POST":
                return 201, self._create(parse_json_object(raw))
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if not rest.startswith("/"):
            raise ApiError(404, "NOT_FOUND", "Not found")
        segs = rest[1:].rstrip("/").split("/")
        if segs == ["filters"]:  # the catalog, not an audience called "filters"
            if method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
            return 200, {"data": FILTER_CATALOG}
        if len(segs) > 1:
            return self._route_runs(method, [unquote(x) for x in segs], query, raw, headers)
        aid = unquote(segs[0])
        if method == "GET":
            return 200, {"data": ordered(self._get(aid))}
        if method == "PATCH":
            aud = self._get(aid)
            return 200, self._update(aud, parse_json_object(raw))
        if method == "DELETE":
            self._get(aid)
            self._drop_audience(aid)
            return 200, {"data": {"deleted": True}}
        raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")

    def _route_runs(self, method, segs, query, raw, headers):
        """/{id}/runs, /{id}/runs/{runId}, /{id}/runs/{runId}/(results|stats|export.csv)."""
        if segs[1] != "runs" or len(segs) > 4 or "" in segs:
            raise ApiError(404, "NOT_FOUND", "Not found")
        aid = segs[0]
        if len(segs) == 2:
            if method == "GET":
                limit = parse_query_int(query, "limit", 25, 1, 100)
                self._get(aid)
                return 200, {"data": [run_record(r) for r in self._runs_of(aid)[:limit]]}
            if method == "POST":
                return self._queue_run(aid, raw, headers)
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if len(segs) == 3:
            if method == "GET":
                return 200, {"data": run_record(self._get_run(aid, segs[2]))}
            if method == "DELETE":
                return 200, {"data": run_record(self._cancel_run(self._get_run(aid, segs[2])))}
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if segs[3] not in ("results", "stats", "export.csv"):
            raise ApiError(404, "NOT_FOUND", "Not found")
        if method != "GET":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if segs[3] == "results":  # the paging parameters are checked first
            limit = parse_query_int(query, "limit", 100, 1, 1000)
            offset = parse_query_int(query, "offset", 0, 0, None)
        run = self._get_run(aid, segs[2])
        if run.get("status") in ("queued", "running"):
            return 202, {"data": {"run": run_record(run)}}
        if run.get("status") != "completed":
            raise ApiError(409, "RUN_NOT_COMPLETED",
                           "The run is %s: it has no results" % run.get("status"))
        rows = run["_emu"].get("rows") or 0
        pool = people_pool(run["id"], run["_emu"].get("padBytes") or 0)
        if segs[3] == "results":
            people = [pool.person(i) for i in range(offset, min(rows, offset + limit))]
            return 200, {"data": {"run": run_record(run), "results": people, "total": rows,
                                  "limit": limit, "offset": offset}}
        if segs[3] == "stats":
            return 200, {"data": {"run": run_record(run), "stats": run_stats(pool, rows)}}
        n = min(rows, self.export_row_cap)
        return 200, Body(pool.bytes_for(n), lambda: pool.chunks(n), "text/csv; charset=utf-8",
                         {"X-Export-Row-Cap": str(self.export_row_cap), "X-Export-Rows": str(n),
                          "Content-Disposition": 'attachment; filename="run-%s.csv"' % run["id"]})

    def _queue_run(self, aid, raw, headers):
        aud = self._get(aid)
        idem = headers.get("Idempotency-Key")
        if idem is not None and not 1 <= len(idem) <= 120:
            raise ApiError(400, "VALIDATION_ERROR", "Idempotency-Key must be 1 to 120 characters")
        body = parse_json_object(raw)
        if body.get("runType") != "manual":
            raise ApiError(400, "VALIDATION_ERROR", 'runType must be "manual"')
        if idem is not None and self.idem.get((aid, idem)) in self.runs:
            return 200, {"data": run_record(self._advance(self.runs[self.idem[(aid, idem)]]))}
        run = new_run(self._new_run_id(), aud, "manual", self._now_ms(), idem)
        run["_emu"] = self._run_knobs(aid)
        self.runs[run["id"]] = run
        if idem is not None:
            self.idem[(aid, idem)] = run["id"]
        return 201, {"data": run_record(run)}

    def _cancel_run(self, run):
        if run.get("status") != "queued":
            raise ApiError(409, "RUN_NOT_CANCELLABLE",
                           "Only a queued run can be cancelled; this one is %s" % run.get("status"))
        run["status"] = "cancelled"
        run["cancelledAt"] = run["updatedAt"] = iso_from_ms(self._now_ms())
        return run

    def _account(self, method):
        if method != "GET":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        data = json.loads(jdump(self.account))
        used = self._active_count()
        data["slots"] = {"total": self.slots, "used": used, "available": max(0, self.slots - used)}
        return {"data": data}

    def _topics(self, method, query):
        if method != "GET":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        topics = make_topics()
        if "limit" not in query and "offset" not in query:
            return _TOPICS_CACHE["body"]
        limit = parse_query_int(query, "limit", 1000, 1, TOPIC_COUNT)
        offset = parse_query_int(query, "offset", 0, 0, None)
        return {"data": topics[offset:offset + limit],
                "meta": {"total": len(topics), "limit": limit, "offset": offset}}

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

    def clear_conns(self):
        """Lock held: connections and requests counted from now on."""
        self.conns.update(connections=0, requests=0, max_in_flight=self.conns["in_flight"])
        self.conns_epoch += 1

    def log_request(self, method, path, query, raw, t, idem=None):
        if not raw:
            body = None
        else:
            try:
                body = parse_json_body(raw)
            except ApiError:
                body = raw.decode("utf-8", "replace")
        entry = {"method": method, "path": path, "query": query, "body": body,
                 "status": None, "t": round(t, 6), "bytes": 0}
        if idem is not None:
            entry["idempotencyKey"] = idem
        with self.lock:
            self.log.append(entry)
        return entry

    def set_status(self, entry, status, dropped=False, aborted=False):
        with self.lock:
            entry["status"] = status
            if dropped:
                entry["dropped"] = True
            if aborted:
                entry["aborted"] = True

    def take_fault(self, method, path):
        """The first queued fault matching this request (one count consumed)."""
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f.get("suffix") and not path.endswith(f["suffix"]):
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


FAULT_KINDS = ("status", "retry_after", "delay", "garbage", "drop", "wrong_shape",
               "stall", "cut", "length")
BODY_FAULTS = ("stall", "cut", "length")  # the request is processed; its answer is damaged


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
    for k in ("path", "suffix"):
        if k in f and f[k] is not None and not isinstance(f[k], str):
            raise ApiError(400, "VALIDATION_ERROR", "%s must be a string" % k)
    if kind in ("stall", "cut"):
        f.setdefault("after_bytes", 0)
        if not is_int(f["after_bytes"]) or f["after_bytes"] < 0:
            raise ApiError(400, "VALIDATION_ERROR", "after_bytes must be an integer >= 0")
    if kind == "stall":
        f.setdefault("seconds", 1)
        if not _nonneg_number(f["seconds"]):
            raise ApiError(400, "VALIDATION_ERROR", "seconds must be a number >= 0")
    if kind == "length":
        f.setdefault("delta", 1)
        if not is_int(f["delta"]) or f["delta"] == 0:
            raise ApiError(400, "VALIDATION_ERROR", "delta must be a non-zero integer")
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
        if route == "tls" and method == "GET":
            return 200, dict(store.tls)
        if route == "conns" and method == "GET":
            return 200, dict(store.conns)
        if route == "conns/clear" and method == "POST":
            store.clear_conns()
            return 200, {"ok": True}
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
                store._drop_audience(aid)
                return 200, {"data": {"deleted": True}}
            return 200, elsewhere_update(store, aud, parse_json_object(raw) if raw else {})
        body = {}
        if method in ("POST", "PATCH") and raw and parts and parts[0] in ("audiences", "runs",
                                                                          "account"):
            body = parse_json_object(raw)
        if len(parts) == 3 and parts[0] == "audiences" and parts[2] == "runs" and method == "POST":
            aud = store._get(unquote(parts[1]))
            return 201, {"data": emu_run(store, elsewhere_run(store, aud, body))}
        if len(parts) == 3 and parts[0] == "audiences" and parts[2] == "run-settings":
            store._get(unquote(parts[1]))
            knobs = store.run_defaults.setdefault(unquote(parts[1]), {})
            if method == "POST":
                for k, v in check_knobs(body).items():
                    if v is None:
                        knobs.pop(k, None)
                    else:
                        knobs[k] = v
            elif method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed")
            return 200, {"settings": dict(knobs)}
        if route == "daily" and method == "POST":
            made = [elsewhere_run(store, a, {"runType": "daily"})
                    for a in (store.auds[i] for i in store._sorted_ids("active"))
                    if a.get("dailyRefreshEnabled")]
            return 200, {"runs": [emu_run(store, r) for r in made]}
        if route == "runs" and method == "GET":
            aid = query.get("audienceId")
            runs = [store._advance(r) for r in store.runs.values()
                    if aid is None or r.get("audienceId") == aid]
            runs.sort(key=lambda r: (str(r.get("createdAt") or ""), r["id"]))
            return 200, {"runs": [emu_run(store, r) for r in runs]}
        if len(parts) >= 2 and parts[0] == "runs":
            run = store.runs.get(unquote(parts[1]))
            if run is None:
                raise ApiError(404, "NOT_FOUND", "Run not found")
            store._advance(run)
            if len(parts) == 2 and method == "PATCH":
                return 200, {"data": emu_run(store, elsewhere_run_update(store, run, body))}
            if len(parts) == 2 and method == "DELETE":
                del store.runs[run["id"]]
                return 200, {"data": {"deleted": True}}
            if len(parts) == 3 and method == "POST" and parts[2] in ("start", "complete", "fail"):
                return 200, {"data": emu_run(store, run_transition(store, run, parts[2], body))}
        if route == "account" and method == "PATCH":
            store.account.update(body)
            return 200, store._account("GET")
        if route == "reset" and method == "POST":
            return 200, reset(store, parse_json_object(raw) if raw else {})
        if route == "settings" and method in ("GET", "POST"):
            if method == "POST":
                apply_settings(store, parse_json_object(raw) if raw else {})
            return 200, {"slots": store.slots, "latency_ms": store.latency_ms,
                         "list_meta": store.list_meta, "run_queue_s": store.run_queue_s,
                         "run_duration_s": store.run_duration_s, "run_rows": store.run_rows,
                         "export_row_cap": store.export_row_cap}
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
    for k in ("run_queue_s", "run_duration_s"):
        if k in body:
            if body[k] is not None and not _nonneg_number(body[k]):
                raise ApiError(400, "VALIDATION_ERROR", "%s must be a number >= 0, or null" % k)
            setattr(store, k, body[k])
    if "run_rows" in body:
        rows = body["run_rows"]
        if rows is not None and not (is_int(rows) and rows >= 0):
            raise ApiError(400, "VALIDATION_ERROR", "run_rows must be an integer >= 0, or null")
        store.run_rows = body["run_rows"]
    if "export_row_cap" in body:
        if not is_int(body["export_row_cap"]) or body["export_row_cap"] < 1:
            raise ApiError(400, "VALIDATION_ERROR", "export_row_cap must be an integer >= 1")
        store.export_row_cap = body["export_row_cap"]


def check_knobs(body):
    """The run knobs of a control body (others ignored), validated."""
    out = {}
    for k in RUN_KNOBS:
        if k not in body:
            continue
        v = body[k]
        ok = v is None or {
            "rows": lambda: is_int(v) and v >= 0,
            "targetBytes": lambda: is_int(v) and v >= 1,
            "padBytes": lambda: is_int(v) and v >= 0,
            "outcome": lambda: v in ("completed", "failed"),
            "queue_s": lambda: _nonneg_number(v),
            "duration_s": lambda: _nonneg_number(v),
        }[k]()
        if not ok:
            raise ApiError(400, "VALIDATION_ERROR", "bad value for " + k)
        out[k] = v
    return out


def emu_run(store, run):
    """A run as the control interface shows it: the record, its knobs, its export size."""
    out = run_record(run)
    out["_emu"] = dict(run["_emu"])
    if run.get("status") == "completed" and run["_emu"].get("rows") is not None:
        pool = people_pool(run["id"], run["_emu"].get("padBytes") or 0)
        out["_emu"]["exportBytes"] = pool.bytes_for(min(run["_emu"]["rows"],
                                                        store.export_row_cap))
    return out


def elsewhere_run(store, aud, body):
    """A run made by Leadpipe itself (the daily scheduler, the web app)."""
    body = dict(body)
    knobs = check_knobs(body)
    run_type = body.pop("runType", "daily")
    status = body.pop("status", "queued")
    if status not in RUN_STATUSES:
        raise ApiError(400, "VALIDATION_ERROR", "status must be one of " + ", ".join(RUN_STATUSES))
    rid = body.pop("id", None) or store._new_run_id()
    if rid in store.runs:
        raise ApiError(409, "CONFLICT", "A run with this id exists")
    now = store._now_ms()
    run = new_run(rid, aud, run_type, now)
    run["_emu"] = store._run_knobs(aud["id"], knobs)
    if status in ("running", "completed", "failed"):
        start_run(run, now)
    if status in ("completed", "failed"):
        finish_run(run, now, status, aud, cap=store.export_row_cap)
    if status == "cancelled":
        run["status"] = "cancelled"
        run["cancelledAt"] = iso_from_ms(now)
    for k in RUN_KNOBS:
        body.pop(k, None)
    run.update(body)
    store.runs[rid] = run
    if run.get("idempotencyKey"):
        store.idem[(aud["id"], run["idempotencyKey"])] = rid
    return run


def elsewhere_run_update(store, run, body):
    body = dict(body)
    knobs = check_knobs(body)
    remove = body.pop("_remove", [])
    if "id" in body and body["id"] != run["id"]:
        raise ApiError(400, "VALIDATION_ERROR", "id cannot change")
    if is_int(body.get("resultCount")) and "rows" not in knobs:
        knobs["rows"] = body["resultCount"]  # the counts go with the rows
    for k, v in knobs.items():
        run["_emu"][k] = v
        body.pop(k, None)
    if "rows" in knobs:
        run["_emu"].pop("targetBytes", None)
    elif "targetBytes" in knobs:
        run["_emu"].pop("rows", None)
        run["_emu"].pop("padBytes", None)
    for k in remove if isinstance(remove, list) else []:
        if k != "id":
            run.pop(k, None)
    if run.get("status") == "completed" and ({"rows", "targetBytes", "padBytes"} & set(knobs)):
        set_run_results(run, store.auds.get(run.get("audienceId")), store.export_row_cap)
    run.update(body)
    if "updatedAt" not in body:
        run["updatedAt"] = iso_from_ms(store._now_ms())
    return run


def run_transition(store, run, step, body):
    """start (queued -> running), complete or fail (queued/running -> done), now."""
    allowed = ("queued",) if step == "start" else ("queued", "running")
    if run.get("status") not in allowed:
        raise ApiError(409, "CONFLICT", "Cannot %s a %s run" % (step, run.get("status")))
    for k, v in check_knobs(body).items():
        run["_emu"][k] = v
    now = store._now_ms()
    if step == "start":
        start_run(run, now)
    else:
        finish_run(run, now, "completed" if step == "complete" else "failed",
                   store.auds.get(run.get("audienceId")), body.get("errorCode"),
                   body.get("errorMessage"), cap=store.export_row_cap)
    return run


def reset(store, body):
    apply_settings(store, body)
    if "seed" in body:
        if not is_int(body["seed"]) or body["seed"] < 0:
            raise ApiError(400, "VALIDATION_ERROR", "seed must be an integer >= 0")
        auds = make_seeded(body["seed"], store.slots)
        store.load(auds, make_seeded_runs(auds) if body.get("runs") else ())
    elif body.get("sample"):
        auds = make_sample(store.slots)
        store.load(auds, make_sample_runs(auds) if body.get("runs", True) else ())
    else:
        store.load([])
    store.log = []
    store.faults = []
    store.clear_conns()
    return {"audiences": len(store.auds)}


# ---------------------------------------------------------------- HTTP


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "leadpipe-emu/1.0"
    sys_version = ""

    def setup(self):
        # With --tls-cert the handshake happens here, in this connection's own
        # thread, so a client that refuses the certificate holds up no other.
        ctx = self.server.ssl_ctx
        if ctx is not None:
            self.request.settimeout(10)
            store = self.server.store
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                with store.lock:
                    store.tls["refused"] += 1
                raise
            with store.lock:
                store.tls["handshakes"] += 1
            self.request.settimeout(None)
        super().setup()

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

    def _send(self, status, body, ctype="application/json; charset=utf-8", extra=None,
              entry=None, fault=None):
        """Sends an answer: body is bytes or a Body (sent in chunks). entry (a log
        entry) counts the body bytes sent; fault is a body fault (stall/cut/length)."""
        if isinstance(body, Body):
            length, chunks = body.length, body.chunks()
            ctype = body.ctype
            extra = dict(body.headers, **(extra or {}))
        else:
            length, chunks = len(body), iter((body,))
        declared = length
        if fault and fault["kind"] == "length":
            declared = max(0, length + fault["delta"])
        reason = self.responses.get(status, ("Unknown",))[0]
        head = ["HTTP/1.1 %d %s" % (status, reason),
                "Server: " + self.server_version,
                "Date: " + self.date_time_string(),
                "Content-Type: " + ctype,
                "Content-Length: %d" % declared]
        for k, v in (extra or {}).items():
            head.append("%s: %s" % (k, v))
        if self.close_connection:
            head.append("Connection: close")
        self.log_request(status, length)
        head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if fault is None and not isinstance(body, Body):
            self._count(entry, len(body))
            self.wfile.write(head + body)
            return
        self._stream(head, chunks, entry, fault)

    def _count(self, entry, n):
        """Adds n to the entry's bytes before they are written: a client that has read
        them finds them counted (on a broken connection: what was handed over)."""
        if entry is not None:
            with self.server.store.lock:
                entry["bytes"] += n

    def _stream(self, head, chunks, entry, fault):
        kind = fault["kind"] if fault else None
        limit = fault["after_bytes"] if kind in ("stall", "cut") else None
        sent = 0
        try:
            self.wfile.write(head)
            for chunk in chunks:
                if limit is not None and sent + len(chunk) >= limit:
                    first = chunk[:limit - sent]
                    self._count(entry, len(first))
                    self.wfile.write(first)
                    sent += len(first)
                    chunk = chunk[len(first):]
                    if kind == "cut":
                        self.server.store.set_status(entry, entry["status"], dropped=True)
                        self._drop()
                        return
                    time.sleep(fault["seconds"])  # stall, then carry on
                    limit = None
                    if not chunk:
                        continue
                self._count(entry, len(chunk))
                self.wfile.write(chunk)
                sent += len(chunk)
            if limit is not None and kind == "cut":  # the body was shorter than after_bytes
                self.server.store.set_status(entry, entry["status"], dropped=True)
                self._drop()
            elif kind == "length":
                self._drop()  # the declared length is wrong: this connection is done
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True
            if entry is not None:
                self.server.store.set_status(entry, entry["status"], aborted=True)

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
        with store.lock:
            c = store.conns
            # One handler per connection: it remembers whether it was counted.
            if getattr(self, "_counted_epoch", None) != store.conns_epoch:
                self._counted_epoch = store.conns_epoch
                c["connections"] += 1
            c["requests"] += 1
            c["in_flight"] += 1
            c["max_in_flight"] = max(c["max_in_flight"], c["in_flight"])
        try:
            self._api_answer(method, path, query, raw, t)
        finally:
            with store.lock:
                store.conns["in_flight"] -= 1

    def _api_answer(self, method, path, query, raw, t):
        store = self.server.store
        entry = store.log_request(method, path, query, raw, t,
                                  self.headers.get("Idempotency-Key"))
        with store.lock:
            latency = store.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        fault = store.take_fault(method, path)
        if fault and fault["kind"] == "delay":
            time.sleep(fault["seconds"])
            fault = None
        body_fault = None
        if fault and fault["kind"] in BODY_FAULTS:
            body_fault, fault = fault, None
        if fault and fault.get("process"):
            store.api(method, path, query, raw, self.headers)  # the answer is lost
        if fault:
            self._fault(fault, entry, path)
            return
        if (path == API_PREFIX or path.startswith(API_PREFIX + "/")
                or path.rstrip("/") in (ACCOUNT_PATH, TOPICS_PATH)):
            status, body = store.api(method, path, query, raw, self.headers)
        else:
            status, body = 404, jdump(error_body("NOT_FOUND", "Not found"))
        store.set_status(entry, status)
        self._send(status, body, entry=entry, fault=body_fault)

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
        self._send(status, data, ctype, extra, entry=entry)


class EmuServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    ssl_ctx = None  # an ssl.SSLContext with --tls-cert: every connection speaks TLS

    def handle_error(self, request, client_address):
        # A client that hangs up mid-answer is routine (timeouts, drop faults),
        # and so is one that refuses the certificate (the negative TLS tests).
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, ssl.SSLError)) \
                and not self.store.verbose:
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
    p.add_argument("--run-queue-s", type=float, default=DEFAULT_RUN_QUEUE_S, metavar="S",
                   help="a new run is queued this long, then running (default 0.5)")
    p.add_argument("--run-duration-s", type=float, default=DEFAULT_RUN_DURATION_S, metavar="S",
                   help="a running run completes after this long (default 1.0)")
    p.add_argument("--runs-manual", action="store_true",
                   help="runs change state only when told (/_emu/runs/ID/start|complete|fail)")
    p.add_argument("--seed-runs", action="store_true",
                   help="with --seed: one completed daily run per active audience")
    p.add_argument("--no-sample-runs", action="store_true", help="with --sample: no runs")
    p.add_argument("--tls-cert", metavar="PEM",
                   help="speak TLS (https) with this certificate (chain first, server's first)")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.add_argument("--verbose", action="store_true", help="one stderr line per request")
    args = p.parse_args(argv)
    if args.seed is not None and args.seed < 0:
        p.error("--seed must be >= 0")
    if args.slots is not None and args.slots < 0:
        p.error("--slots must be >= 0")
    if args.latency_ms < 0:
        p.error("--latency-ms must be >= 0")
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.run_queue_s < 0 or args.run_duration_s < 0:
        p.error("--run-queue-s and --run-duration-s must be >= 0")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    slots = args.slots
    if slots is None:
        slots = SEED_SLOTS if args.seed is not None else DEFAULT_SLOTS
    store = Store(args.key, slots, args.latency_ms, verbose=args.verbose,
                  run_queue_s=None if args.runs_manual else args.run_queue_s,
                  run_duration_s=None if args.runs_manual else args.run_duration_s)
    if args.seed is not None:
        auds = make_seeded(args.seed, slots)
        store.load(auds, make_seeded_runs(auds) if args.seed_runs else ())
    elif not args.empty:
        auds = make_sample(slots)
        store.load(auds, () if args.no_sample_runs else make_sample_runs(auds))
    server = EmuServer(("127.0.0.1", args.port), Handler)
    server.store = store
    if args.tls_cert:
        server.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    port = server.server_address[1]

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        sys.stderr.write("leadpipe_emu: listening on %s://127.0.0.1:%d (%d audiences, %d runs,"
                         " %d slots)\n" % ("https" if args.tls_cert else "http", port,
                                            len(store.auds), len(store.runs), slots))
        sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
