#!/usr/bin/env python3
"""Runs IntelMQ's Shadowserver parser over every exported CSV and checks each event against what
the sinkhole stored.

    VENV/bin/python Tests/IntelMQ/check_shadowserver.py DIR EXPECTED.jsonl
    VENV/bin/python Tests/IntelMQ/check_shadowserver.py --schema-path

VENV is the virtualenv made by setup.sh (it prints VENV/bin/python). ISPs ingest the sinkhole's
daily exports with IntelMQ; this drives the real ShadowserverParserBot through IntelMQ's own bot
test harness (intelmq.lib.test.BotTestCase), fed as IntelMQ's file collector would feed it: one
report per file, `raw` = base64 of the file's bytes, `extra.file_name` = the file name.

EXPECTED.jsonl: one JSON object per expected CSV data row,
    {"file": "2026-11-28-event4_sinkhole_http-node1.csv", "src_ip": "198.51.100.7",
     "src_port": 49152, "time": "2026-11-28T13:45:00+00:00", "malware": "Emotet"}
plus, optionally, "severity" (all rows of a file or none), checked against the event's severity.

A file fails when the parser logs an error, a traceback or a warning (a missing column warns),
reports a problem line, yields a number of events other than the number of data rows, when a row
spans more than one physical line (the exporter promises one line per row), when the file is not
UTF-8 or holds a NUL (IntelMQ would silently drop those bytes), or when the multiset of
(source.ip, source.port, time.source, malware.name[, severity]) of its events differs from
EXPECTED's rows for that file. Comparisons are by value: IP addresses as addresses (IntelMQ
normalises IPv6 text), times as instants, and the malware name case-insensitively because IntelMQ's
malware.name is a LowercaseString ("Emotet" is stored as "emotet").

Exit status: 0 all files pass, 1 a check failed, 2 bad arguments or environment.
"""
import os
import sys

# IntelMQ computes its paths when first imported: its root goes inside the venv running this
# script, so the schema (VAR_STATE_PATH/shadowserver-schema.json) and anything else it touches
# stay private to the venv, never /opt/intelmq or /var/lib/intelmq of the machine.
os.environ['INTELMQ_ROOT_DIR'] = os.path.join(sys.prefix, 'intelmq-root')
os.environ.pop('INTELMQ_PATHS_NO_OPT', None)

import base64
import collections
import csv
import datetime
import io
import ipaddress
import json
import re
import unittest
import unittest.mock as mock

try:
    import intelmq
    import intelmq.lib.test as intelmq_test
    import intelmq.lib.utils as intelmq_utils
    import intelmq.bots.parsers.shadowserver._config as shadowserver_config
    from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot
except ImportError as exc:
    print(f"check_shadowserver: cannot import IntelMQ ({exc}); run it with the python that "
          "Tests/IntelMQ/setup.sh prints", file=sys.stderr)
    sys.exit(2)

EXPECTED_KEYS = {'file', 'src_ip', 'src_port', 'time', 'malware'}
OPTIONAL_KEYS = {'severity'}
MAX_ERRORS_SHOWN = 30  # per file: a systematic fault in a large export would otherwise flood the log


def schema_path():
    """Where this IntelMQ's Shadowserver parser loads its schema from (module-level name, so no
    class-private mangling applies)."""
    return getattr(shadowserver_config, '__config').schema_file


class ParserHarness(intelmq_test.BotTestCase, unittest.TestCase):
    """IntelMQ's bot test case for the Shadowserver parser, driven by hand rather than by a
    unittest runner so that one bot run per file can be inspected and reported."""

    @classmethod
    def set_bot(cls):
        cls.bot_reference = ShadowserverParserBot

    def runTest(self):  # unittest.TestCase needs a method to name; the checks are in check_file
        pass


class Failure(Exception):
    pass


def load_expected(path):
    """EXPECTED.jsonl → {file name: [row dict]}, with the line number of each row."""
    by_file = collections.defaultdict(list)
    with open(path, encoding='utf-8') as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise Failure(f"{path}:{number}: not JSON ({exc})")
            if not isinstance(row, dict):
                raise Failure(f"{path}:{number}: not a JSON object")
            missing = EXPECTED_KEYS - row.keys()
            unknown = row.keys() - EXPECTED_KEYS - OPTIONAL_KEYS
            if missing or unknown:
                raise Failure(f"{path}:{number}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
            if not isinstance(row['src_port'], int) or isinstance(row['src_port'], bool):
                raise Failure(f"{path}:{number}: src_port must be an integer")
            for key in row.keys() - {'src_port'}:
                if not isinstance(row[key], str):
                    raise Failure(f"{path}:{number}: {key} must be a string")
            try:
                row['_key'] = expected_key(row)
            except ValueError as exc:
                raise Failure(f"{path}:{number}: {exc}")
            row['_line'] = number
            by_file[row['file']].append(row)
    for name, rows in by_file.items():
        with_severity = sum('severity' in row for row in rows)
        if with_severity not in (0, len(rows)):
            raise Failure(f"{path}: {name}: 'severity' given for {with_severity} of {len(rows)} rows; give it for all or none")
    return by_file


def instant(text):
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return value.astimezone(datetime.timezone.utc)


def expected_key(row):
    key = (ipaddress.ip_address(row['src_ip']), row['src_port'], instant(row['time']), row['malware'].lower())
    return key + (row['severity'],) if 'severity' in row else key


# The event fields compared, and the CSV column each comes from (named when a field is absent).
COMPARED = (('source.ip', 'src_ip'), ('source.port', 'src_port'), ('time.source', 'timestamp'),
            ('malware.name', 'infection'), ('severity', 'severity'))


def event_key(event, with_severity):
    """The event's compared fields in expected_key's form; an absent field is None."""
    ip, port, time, malware, severity = (event.get(field) for field, _ in COMPARED)
    key = (ipaddress.ip_address(ip) if ip is not None else None, port,
           instant(time) if time is not None else None, malware)
    return key + (severity,) if with_severity else key


def show_key(key, source_row=None):
    """One line naming the compared values; for a field IntelMQ left out, the CSV value it had."""
    parts = []
    for (field, column), value in zip(COMPARED, key):
        if value is None:
            was = f" (CSV {column}: {source_row.get(column)!r})" if source_row is not None else ''
            parts.append(f"{field}=<absent>{was}")
        else:
            parts.append(f"{field}={value.isoformat() if isinstance(value, datetime.datetime) else value}")
    return ' '.join(parts)


def data_lines(name, data):
    """The file's data rows as physical lines (number, text), after checking that it is UTF-8
    without NUL and that every CSV record is exactly one physical line."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b'\n') + 1
        raise Failure(f"{name}: line {line}: not UTF-8 at byte {exc.start} (IntelMQ would drop the byte silently)")
    if '\0' in text:
        line = text[:text.index('\0')].count('\n') + 1
        raise Failure(f"{name}: line {line}: NUL byte (IntelMQ deletes NULs before parsing)")
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    lines = [line[:-1] if line.endswith('\r') else line for line in lines]
    if not lines:
        raise Failure(f"{name}: empty file, no header row")
    columns = len(next(csv.reader([lines[0]], dialect='unix')))
    rows = [(number, line) for number, line in enumerate(lines, 1) if number > 1]
    for number, line in rows:
        if line == '':
            raise Failure(f"{name}: line {number}: blank line (IntelMQ skips it: a row would vanish)")
        records = list(csv.reader([line], dialect='unix'))
        if len(records) != 1 or line.count('"') % 2:
            raise Failure(f"{name}: line {number}: not one complete CSV record (a field breaks the row): {line[:200]!r}")
        # IntelMQ reads a short row's missing columns as absent and a long row's surplus as an
        # unnamed list, both without a word: a value shifted into the wrong column would pass.
        if len(records[0]) != columns:
            raise Failure(f"{name}: line {number}: {len(records[0])} fields, the header has {columns}: {line[:200]!r}")
    return rows


def run_parser(harness, name, data):
    report = {'__type': 'Report',
              'raw': base64.b64encode(data).decode('ascii'),
              'extra.file_name': name,
              'time.observation': datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
    harness.input_message = report
    assertion = None
    try:
        harness.run_bot(allowed_error_count=0, allowed_warning_count=0)
    except AssertionError as exc:
        assertion = exc
    events = [json.loads(text) for text in harness.get_output_queue()]
    return events, harness.loglines_buffer, assertion


def problems_in_log(log):
    """Error, critical and warning messages and traceback conclusions in the bot's log."""
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if re.search(r' - (ERROR|CRITICAL|WARNING) - ', line):
            found.append(line.split(' - ', 3)[-1])
        elif line.startswith('Traceback'):
            tail = next((later for later in lines[index + 1:] if re.match(r'^[A-Za-z_.]+(Error|Exception|Key|Value)\b', later)), None)
            if tail:
                found.append('  ' + tail)
    return found


def text_header(data):
    return data.decode('utf-8').split('\n', 1)[0].rstrip('\r')


def raw_data_line(event):
    """The CSV data line an event came from: IntelMQ stores the header and the line as `raw`."""
    raw = base64.b64decode(event.get('raw', '')).decode('utf-8', 'replace')
    parts = raw.split('\n', 1)
    return parts[1].strip('\r\n') if len(parts) == 2 else None


def moved_to_extra(events, feed):
    """Columns mapped to a real IntelMQ field whose value did not validate and so landed in
    extra.<column> (silently, at DEBUG level): worth a note, not a failure."""
    mapped = {column for key, column, *_ in feed['required_fields'] + feed['optional_fields']
              if key and not key.startswith('extra.')}
    counts = collections.Counter(column for event in events for column in mapped if f'extra.{column}' in event)
    return counts


def check_file(harness, directory, name, expected_rows, expected_path):
    with open(os.path.join(directory, name), 'rb') as handle:
        data = handle.read()
    rows = data_lines(name, data)
    events, log, assertion = run_parser(harness, name, data)
    # The parser's own file-name rule, only to name the feed and its mapping in the summary
    # (after the run: the bot loads the schema when it starts).
    report_type = re.match(r'^(?:\d{4}-\d{2}-\d{2}-)?(\w+)(-\w+)*\.csv$', name)
    feed = report_type and shadowserver_config.get_feed_by_filename(report_type.group(1))

    errors = []
    logged = problems_in_log(log)
    if logged:
        errors.append("IntelMQ logged:\n    " + "\n    ".join(logged))
    sent = re.search(r'Sent (\d+) events and found (\d+) problem', log)
    if sent and int(sent.group(2)):
        errors.append(f"IntelMQ rejected {sent.group(2)} line(s)")
    if assertion is not None and not logged:
        errors.append(f"IntelMQ's bot test harness: {str(assertion).splitlines()[0]}")
    if len(events) != len(rows):
        errors.append(f"{len(rows)} data rows but {len(events)} events")

    produced = collections.Counter(raw_data_line(event) for event in events)
    for number, line in rows:
        if produced[line] > 0:
            produced[line] -= 1
        else:
            errors.append(f"line {number}: no event: {line[:200]!r}")

    with_severity = bool(expected_rows) and 'severity' in expected_rows[0]
    wanted = collections.Counter(row['_key'] for row in expected_rows)
    line_of = {}
    for number, line in rows:
        line_of.setdefault(line, number)
    header = next(csv.reader([text_header(data)], dialect='unix'))
    got = collections.Counter()
    sources = collections.defaultdict(list)  # key → [(line number, CSV row as dict)]
    for event in events:
        key = event_key(event, with_severity)
        got[key] += 1
        line = raw_data_line(event)
        source_row = dict(zip(header, next(csv.reader([line], dialect='unix')))) if line else None
        sources[key].append((line_of.get(line, '?'), source_row))
    for key, count in (wanted - got).items():
        lines = [row['_line'] for row in expected_rows if row['_key'] == key]
        for number in lines[:count]:
            errors.append(f"{os.path.basename(expected_path)} line {number}: no such event: {show_key(key)}")
    for key, count in (got - wanted).items():
        for number, source_row in sources[key][:count]:
            errors.append(f"line {number}: event not in {os.path.basename(expected_path)}: {show_key(key, source_row)}")

    if errors:
        if len(errors) > MAX_ERRORS_SHOWN:
            errors = errors[:MAX_ERRORS_SHOWN] + [f"... and {len(errors) - MAX_ERRORS_SHOWN} more"]
        raise Failure(f"{name}: " + "\n  ".join(errors))
    notes = moved_to_extra(events, feed[1]) if feed else {}
    return len(rows), len(events), feed[0] if feed else '?', notes


def main(argv):
    if argv[1:] == ['--schema-path']:
        print(schema_path())
        return 0
    if len(argv) != 3 or argv[1].startswith('-'):
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    directory, expected_path = argv[1], argv[2]
    if not os.path.isfile(schema_path()):
        print(f"check_shadowserver: no schema at {schema_path()}: run Tests/IntelMQ/setup.sh", file=sys.stderr)
        return 2
    if not os.path.isdir(directory):
        print(f"check_shadowserver: {directory} is not a directory", file=sys.stderr)
        return 2
    try:
        expected = load_expected(expected_path)
    except (Failure, OSError) as exc:
        print(f"check_shadowserver: {exc}", file=sys.stderr)
        return 2
    names = sorted(name for name in os.listdir(directory) if name.endswith('.csv'))
    if not names:
        print(f"FAIL {directory}: no *.csv to check")
        return 1

    # IntelMQ refuses to run bots as root and drops to an 'intelmq' user if one exists. That
    # guards daemons handling untrusted feeds; this checker runs one parser in-process on the
    # caller's own files, as root in CI, so the refusal is bypassed here rather than adding a
    # system user and making every path readable to it.
    with mock.patch('intelmq.lib.utils.drop_privileges', return_value=True):
        ParserHarness.setUpClass()
    harness = ParserHarness()

    failed = 0
    for name in sorted(set(expected) - set(names)):
        print(f"FAIL {name}: in {expected_path} but not in {directory}")
        failed += 1
    for name in names:
        try:
            rows, events, feed, notes = check_file(harness, directory, name, expected.get(name, []), expected_path)
        except Failure as exc:
            print(f"FAIL {exc}")
            failed += 1
            continue
        print(f"ok   {name}: {rows} rows, {events} events ({feed})")
        for column, count in sorted(notes.items()):
            print(f"     note: {count} value(s) of column {column!r} did not validate for IntelMQ and were kept as extra.{column}")
    print(f"files: {len(names) + len(set(expected) - set(names)) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
