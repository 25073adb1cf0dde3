"""Bounce and complaint reading quality on real messages from MTAs and providers we did not write.

Runs `app.bounces.reports.read_message` over every file in the given folders (default: the small
committed set in tests/data/bounces, or $BOUNCE_SAMPLES) and prints, per source (the file name
without its number), how many were read as bounces, complaints or nothing, hard vs soft, and how
many reports named a recipient. Where a label exists it compares:

labels.json   next to the samples (the committed set): {"file": {"kinds": [..], "recipients": [..]}}
--sisimai-facts DIR   go-sisimai's fact/*_test.go, whose expected results name, for each file of
              sisimai/set-of-emails maildir/bsd, the delivery status per recipient and a reason.
              5.x.x → hard, 4.x.x → soft, reason feedback → complaint (auth-failure → none),
              vacation or delivered → none. Sisimai derives statuses for non-DSN bounces itself, so
              its label is an informed reading, not ground truth.
--flufl-tests FILE    flufl.bounce's tests/test_detectors.py (from its sdist): the addresses each
              sample reports and whether they are temporary (a warning → none for us) or permanent
              (a final failure → hard or soft, counted as the class "failure").

Message-level classes: the set of report kinds ({"none"} when no report). Per class, P = messages
given the class that have it / messages given it, R = messages that have it and were given it /
messages that have it. "failure" is hard-or-soft, for labels that do not say which.

    .venv/bin/python bench/bounce_quality.py
    .venv/bin/python bench/bounce_quality.py SET/maildir/bsd --sisimai-facts GO/fact --show 30
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.bounces.reports import read_message  # noqa: E402

DEFAULT_SAMPLES = ROOT / "tests" / "data" / "bounces"
CLASSES = ("hard", "soft", "complaint", "none", "failure")
_GO_ENTRY = re.compile(
    r'\{"(\w+)",\s*(\d+),\s*"([^"]*)",\s*"([^"]*)",\s*"([^"]*)",\s*(true|false),\s*"([^"]*)"\}'
)
_NOT_COMPLAINT = {"auth-failure", "not-spam"}


def sisimai_labels(fact_dir: Path) -> dict[str, dict]:
    """File name → expected kinds, from go-sisimai's `fact/NN-<engine>_test.go` tables."""
    labels: dict[str, dict] = {}
    for test_file in sorted(fact_dir.glob("*_test.go")):
        match = re.match(r"\d+-((?:lhost|rhost)-[\w]+|rfc\d+|arf)_test\.go$", test_file.name)
        if not match:
            continue
        prefix = match.group(1)
        for label, _, status, _, reason, _, another in _GO_ENTRY.findall(test_file.read_text()):
            kind = _sisimai_kind(status, reason, another)
            entry = labels.setdefault(f"{prefix}-{label}.eml", {"kinds": set(), "count": 0})
            entry["count"] += 1
            if kind:
                entry["kinds"].add(kind)
    return {name: entry for name, entry in labels.items() if entry["kinds"]}


def _sisimai_kind(status: str, reason: str, another: str) -> str | None:
    if reason == "feedback":
        return "none" if another in _NOT_COMPLAINT else "complaint"
    if reason in ("vacation", "delivered") or status.startswith("2"):
        return "none"
    if status.startswith("5"):
        return "hard"
    if status.startswith("4"):
        return "soft"
    return None


def flufl_labels(test_file: Path) -> dict[str, dict]:
    """File name → expected class and addresses, from flufl.bounce's DETECTORS table."""
    tree = ast.parse(test_file.read_text())
    table = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets)
    )
    labels: dict[str, dict] = {}
    for _, filename, addresses, temporary in ast.literal_eval(table):
        if not addresses:
            continue  # "this detector finds nothing": says nothing about the message
        kind = "none" if temporary else "failure"
        found = {a.decode().lower() for a in addresses}
        labels[filename] = {"kinds": {kind}, "recipients": found if kind == "failure" else set()}
    return labels


def source_of(name: str) -> str:
    return re.sub(r"[-_]\d+$", "", Path(name).stem)


def predicted_classes(reading) -> set[str]:
    kinds = {str(r.kind) for r in reading.reports}
    return kinds or {"none"}


def compare(expected: set[str], predicted: set[str]) -> dict[str, tuple[bool, bool]]:
    """class → (expected has it, predicted has it), for the classes the label can decide."""
    out: dict[str, tuple[bool, bool]] = {}
    if "failure" in expected:
        out["failure"] = (True, bool(predicted & {"hard", "soft"}))
        out["none"] = (False, "none" in predicted)
        out["complaint"] = (False, "complaint" in predicted)
        return out
    for name in ("hard", "soft", "complaint", "none"):
        out[name] = (name in expected, name in predicted)
    out["failure"] = (bool(expected & {"hard", "soft"}), bool(predicted & {"hard", "soft"}))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--sisimai-facts", type=Path, help="go-sisimai's fact/ folder")
    parser.add_argument("--flufl-tests", type=Path, help="flufl.bounce's tests/test_detectors.py")
    parser.add_argument("--show", type=int, default=0, help="print N disagreements in full")
    parser.add_argument("--list", action="store_true", help="print every file's result")
    args = parser.parse_args()

    folders = args.folders or [Path(os.environ.get("BOUNCE_SAMPLES", DEFAULT_SAMPLES))]
    labels: dict[str, dict] = {}
    if args.sisimai_facts:
        labels.update(sisimai_labels(args.sisimai_facts))
    if args.flufl_tests:
        labels.update(flufl_labels(args.flufl_tests))
    for folder in folders:
        labels_file = folder / "labels.json"
        if labels_file.exists():
            for name, entry in json.loads(labels_file.read_text()).items():
                labels[name] = {
                    "kinds": set(entry["kinds"]),
                    "recipients": {r.lower() for r in entry.get("recipients", [])},
                }

    rows: dict[str, Counter] = defaultdict(Counter)
    scores: dict[str, Counter] = defaultdict(Counter)
    disagreements: list[tuple[str, set, set, object]] = []
    files = sorted(
        p for folder in folders for p in folder.iterdir() if p.is_file() and p.suffix != ".json"
    )
    files = [p for p in files if p.name != "README.md"]
    for path in files:
        reading = read_message(path.read_bytes())
        predicted = predicted_classes(reading)
        row = rows[source_of(path.name)]
        row["files"] += 1
        row["bounce"] += bool(predicted & {"hard", "soft"})
        row["complaint"] += "complaint" in predicted
        row["none"] += predicted == {"none"}
        row["hard"] += sum(r.kind == "hard" for r in reading.reports)
        row["soft"] += sum(r.kind == "soft" for r in reading.reports)
        row["reports"] += len(reading.reports)
        row["with_rcpt"] += sum(bool(r.recipient) for r in reading.reports)
        row["with_status"] += sum(bool(r.status) for r in reading.reports)
        row["with_msgid"] += sum(bool(r.message_id) for r in reading.reports)
        label = labels.get(path.name)
        if args.list:
            kinds = ",".join(f"{r.kind}:{r.status}:{r.recipient}" for r in reading.reports)
            print(f"{path.name:34} {kinds or '-'} {reading.note}")
        if label is None:
            continue
        row["labelled"] += 1
        agree = True
        for name, (want, got) in compare(label["kinds"], predicted).items():
            scores[name]["tp"] += want and got
            scores[name]["fp"] += got and not want
            scores[name]["fn"] += want and not got
            agree = agree and want == got
        wanted_rcpts = label.get("recipients") or set()
        if wanted_rcpts:
            got_rcpts = {(r.recipient or "").lower() for r in reading.reports}
            row["rcpt_labelled"] += 1
            row["rcpt_right"] += wanted_rcpts <= got_rcpts
        row["agree"] += agree
        if not agree:
            disagreements.append((path.name, label["kinds"], predicted, reading))

    _print_table(rows)
    _print_scores(scores)
    print(f"\n{len(disagreements)} labelled messages where the kinds disagree")
    for name, want, got, reading in disagreements[: args.show]:
        print(f"\n--- {name}: expected {sorted(want)}, got {sorted(got)}; note={reading.note!r}")
        for report in reading.reports:
            print(f"    {report.kind} {report.status} {report.recipient} | {report.diagnostic}")
    return 0


def _print_table(rows: dict[str, Counter]) -> None:
    head = (
        f"{'source':24} {'files':>5} {'bounce':>6} {'compl':>5} {'none':>5} {'hard':>5} "
        f"{'soft':>5} {'rcpt%':>6} {'stat%':>6} {'msgid%':>6} {'lab':>4} {'agree':>5} "
        f"{'rcpt ok':>8}"
    )
    print(head)
    print("-" * len(head))
    total: Counter = Counter()
    for source in sorted(rows):
        _print_row(source, rows[source])
        total.update(rows[source])
    print("-" * len(head))
    _print_row("TOTAL", total)


def _print_row(source: str, row: Counter) -> None:
    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:5.0f}%" if whole else "     -"

    rcpt = f"{row['rcpt_right']}/{row['rcpt_labelled']}" if row["rcpt_labelled"] else "-"
    print(
        f"{source[:24]:24} {row['files']:5} {row['bounce']:6} {row['complaint']:5} "
        f"{row['none']:5} {row['hard']:5} {row['soft']:5} "
        f"{pct(row['with_rcpt'], row['reports']):>6} {pct(row['with_status'], row['reports']):>6} "
        f"{pct(row['with_msgid'], row['reports']):>6} {row['labelled']:4} {row['agree']:5} "
        f"{rcpt:>8}"
    )


def _print_scores(scores: dict[str, Counter]) -> None:
    print(f"\n{'class':10} {'P':>6} {'R':>6} {'tp':>5} {'fp':>5} {'fn':>5}")
    for name in CLASSES:
        s = scores.get(name)
        if not s or not (s["tp"] + s["fp"] + s["fn"]):
            continue
        precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
        recall = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 1.0
        print(f"{name:10} {precision:6.3f} {recall:6.3f} {s['tp']:5} {s['fp']:5} {s['fn']:5}")


if __name__ == "__main__":
    raise SystemExit(main())
